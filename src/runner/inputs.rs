//! The channel from the runner and the pollers to the driver, bounded where
//! it can grow.
//!
//! Policy: what the runner sends falls in two kinds.
//! - **Bulk**: `StepOutput` batches. A chatty step makes up to ten a second,
//!   and while the driver is slow (a store that stalls, a big group) they
//!   would pile up without limit. They take a permit from a fixed budget
//!   shared by all steps (`send_bulk().await`), given back when the driver
//!   takes the batch off the queue. A sink waiting for a permit stops
//!   reading its lines, its line channel fills, and the step blocks on its
//!   pipe: backpressure reaches the process that makes the output, and no
//!   line is dropped.
//! - **Control**: a step's result, a notification's outcome, a poller's new
//!   commit or build. They are never dropped and never wait (the runner's
//!   callers are not async everywhere, and a result must not queue behind
//!   output); their number is bounded by what runs: one result per step
//!   process, one per notification, one per poll.
//!
//! So the queue holds at most `budget` output batches plus one control
//! input per running process or poll.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};

use crate::engine::Input;

/// Output batches queued for the driver at most, across all steps: 256 of
/// at most 64 KiB is 16 MiB in the worst case, a few hundred milliseconds
/// of the driver's work.
pub const BULK_BUDGET: usize = 256;

/// The sending half; clone it for each producer.
#[derive(Clone)]
pub struct InputSender {
    tx: mpsc::UnboundedSender<Input>,
    /// None: no budget (a channel made from a bare tokio sender, in tests).
    bulk: Option<Arc<Semaphore>>,
}

/// The driver is gone (the server is stopping): the input was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// The driver's half: gives a bulk input's permit back when it is taken.
pub struct InputReceiver {
    rx: mpsc::UnboundedReceiver<Input>,
    bulk: Arc<Semaphore>,
}

/// A channel with a budget of `bulk` output batches.
pub fn input_channel(bulk: usize) -> (InputSender, InputReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let bulk = Arc::new(Semaphore::new(bulk));
    (
        InputSender {
            tx,
            bulk: Some(bulk.clone()),
        },
        InputReceiver { rx, bulk },
    )
}

fn is_bulk(input: &Input) -> bool {
    matches!(input, Input::StepOutput { .. })
}

impl From<mpsc::UnboundedSender<Input>> for InputSender {
    fn from(tx: mpsc::UnboundedSender<Input>) -> Self {
        InputSender { tx, bulk: None }
    }
}

impl InputSender {
    /// Queue a control input; never waits. Err when the driver is gone.
    pub fn send(&self, input: Input) -> Result<(), Closed> {
        self.tx.send(input).map_err(|_| Closed)
    }

    /// Queue an output batch, waiting for room in the budget. Err when the
    /// driver is gone (its receiver closes the budget when dropped).
    pub async fn send_bulk(&self, input: Input) -> Result<(), Closed> {
        if let Some(bulk) = &self.bulk {
            match bulk.acquire().await {
                // Given back by the receiver when it takes this input.
                Ok(permit) => permit.forget(),
                Err(_) => return Err(Closed),
            }
        }
        self.tx.send(input).map_err(|_| Closed)
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl InputReceiver {
    /// The next input (cancel safe, like `mpsc::UnboundedReceiver::recv`).
    pub async fn recv(&mut self) -> Option<Input> {
        let input = self.rx.recv().await;
        self.taken(input.as_ref());
        input
    }

    pub fn try_recv(&mut self) -> Result<Input, mpsc::error::TryRecvError> {
        let input = self.rx.try_recv();
        self.taken(input.as_ref().ok());
        input
    }

    fn taken(&self, input: Option<&Input>) {
        if input.is_some_and(is_bulk) {
            self.bulk.add_permits(1);
        }
    }
}

impl Drop for InputReceiver {
    /// Senders waiting for room would wait for ever: let them fail instead.
    fn drop(&mut self) {
        self.bulk.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(n: usize) -> Input {
        Input::StepOutput {
            run: "r".into(),
            step: n,
            lines: vec![],
            dropped: 0,
        }
    }

    #[tokio::test]
    async fn output_waits_for_room_and_control_never_does() {
        let (tx, mut rx) = input_channel(2);
        tx.send_bulk(output(0)).await.unwrap();
        tx.send_bulk(output(1)).await.unwrap();
        // Full: a third batch waits...
        let third = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send_bulk(output(2)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!third.is_finished());
        // ...while a control input goes straight through.
        tx.send(Input::Recover { not_begun: vec![] }).unwrap();
        // Taking one batch makes room for it.
        assert!(matches!(
            rx.recv().await,
            Some(Input::StepOutput { step: 0, .. })
        ));
        third.await.unwrap().unwrap();
        assert!(matches!(
            rx.try_recv(),
            Ok(Input::StepOutput { step: 1, .. })
        ));
        assert!(matches!(rx.try_recv(), Ok(Input::Recover { .. })));
        assert!(matches!(
            rx.try_recv(),
            Ok(Input::StepOutput { step: 2, .. })
        ));
    }

    #[tokio::test]
    async fn a_waiting_sender_fails_when_the_driver_is_gone() {
        let (tx, rx) = input_channel(1);
        tx.send_bulk(output(0)).await.unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send_bulk(output(1)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        drop(rx);
        assert!(waiting.await.unwrap().is_err());
        assert!(tx.send(output(2)).is_err());
    }
}
