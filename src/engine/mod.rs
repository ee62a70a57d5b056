//! The promotion engine, free of I/O (sans-IO): it takes one input (a command
//! from the API, a step result, a restart) together with the time it happened,
//! and returns the events it decided on and the effects to perform. The
//! contract (what goes in, what comes out, the time and sequence rules) is
//! stated once, in [`io`].
//!
//! - [`io`]: inputs, outputs, effects and rejections;
//! - `state`: the state, and the rules that read it;
//! - `fold`: `State::apply`, the only code that changes the state;
//! - `decide`: the rules of promotion, from one input to events and effects;
//! - `jobs`: what the runner needs to run one step.

pub mod blocked;
mod decide;
mod fold;
mod fold_freeze;
mod fold_safety;
pub mod io;
mod jobs;
mod state;
mod trim;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::config::Config;
use crate::model::Millis;

pub use blocked::{Blocked, BlockedReason, blocked, blocked_all};
pub use decide::freeze::{InForce, freezes_at, frozen_wait};
pub use io::{
    ArtifactRef, BuiltArtifact, Command, Effect, Input, Output, Principal, Rejection,
    RejectionKind, StepAction, StepJob,
};
pub use state::{FreezeState, GOOD_KEPT, GoodRelease, ServiceState, SourceKind, StageState, State};
pub use trim::KEPT;

/// The engine: the configuration it decides by and the state it decides on.
pub struct Engine {
    config: Arc<Config>,
    state: State,
    /// The latest `Input::Tick` handled: deadlines at or before it have
    /// been served (what still waits then waits for something else).
    ticked: Millis,
}

impl Engine {
    pub fn new(config: Arc<Config>) -> Self {
        let state = State::new(&config);
        Engine {
            config,
            state,
            ticked: Millis::MIN,
        }
    }

    /// Continue from a state folded elsewhere (a snapshot plus the events
    /// after it) under the same configuration.
    pub fn from_state(config: Arc<Config>, state: State) -> Self {
        Engine {
            config,
            state,
            ticked: Millis::MIN,
        }
    }

    /// Rebuild from the stored events (after a restart).
    pub fn from_events<'a>(
        config: Arc<Config>,
        events: impl IntoIterator<Item = &'a crate::model::Event>,
    ) -> Self {
        let mut engine = Engine::new(config);
        for e in events {
            engine.state.apply(e);
        }
        engine
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Fold one stored event (a restart replaying the log).
    pub fn apply(&mut self, event: &crate::model::Event) {
        self.state.apply(event);
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Decide on one input that happened at `now`. On a rejection nothing
    /// was applied. The events are applied to the state as they are decided,
    /// with provisional sequence numbers following `state.seq`; the store must
    /// number them the same way (it appends after the same last sequence).
    pub fn handle(&mut self, input: Input, now: Millis) -> Result<Output, Rejection> {
        if let Input::Tick { now } = &input {
            self.ticked = self.ticked.max(*now);
        }
        decide::handle(&self.config, &mut self.state, input, now)
    }

    /// When the engine next wants an `Input::Tick` (epoch ms), like
    /// quinn-proto's `poll_timeout`: the earliest time a deployment waiting
    /// for a freeze window may start. `None`: no deadline.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.state
            .freeze
            .frozen
            .values()
            .map(|w| w.until)
            .filter(|until| *until > self.ticked)
            .min()
    }
}
