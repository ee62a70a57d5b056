//! A step's output: every line is decoded, capped, sanitized and masked, then
//! appended to the step's log file and streamed to the engine in rate-limited
//! batches. One sink task per step owns the file, so lines from stdout,
//! stderr, health probes and the runner's own notes keep one order.

use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::InputSender;
use crate::engine::Input;
use crate::model::{RunId, sanitize_text};

/// Longest line kept, in bytes; the rest of a longer line is cut off.
pub const MAX_LINE: usize = 4096;
/// A step's log file stops growing here: a runaway step must not fill the
/// disk the event store lives on. The stream still counts what follows.
pub const MAX_LOG_BYTES: u64 = 64 * 1024 * 1024;
/// At most this many lines in one `StepOutput` batch.
pub const MAX_BATCH: usize = 200;
/// At most this many bytes of lines in one batch: 200 lines of 4 KiB, ten
/// times a second, would be 8 MB/s of events in the store.
pub const MAX_BATCH_BYTES: usize = 64 * 1024;
/// At most one batch per period (10 a second): a step printing a flood must
/// not flood the event log; its lines are all in the log file anyway.
pub const BATCH_PERIOD: Duration = Duration::from_millis(100);
/// The log file's write buffer: a flood is written in blocks this large.
const LOG_BUFFER: usize = 256 * 1024;
/// Less than this buffered when the sink's queue runs dry is flushed at
/// once (a quiet step); more waits for the buffer or the batch tick.
const QUIET_BYTES: usize = 8 * 1024;

/// Replaces secret values by `***`.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    /// Values shorter than 4 bytes are not masked: masking "1" or "ab" would
    /// mangle every line and reveal the secret by its holes.
    /// Output is read line by line, so a multi-line secret (a PEM key, JSON
    /// credentials) is also masked line by line, and a trailing newline (a
    /// value read from a file) is not part of what must match.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = values
            .into_iter()
            .flat_map(|v| {
                let whole = v.trim_end_matches(['\r', '\n']).to_string();
                let lines: Vec<String> = whole
                    .lines()
                    .map(|l| l.trim_end_matches('\r').to_string())
                    .collect();
                std::iter::once(whole).chain(if lines.len() > 1 { lines } else { Vec::new() })
            })
            .filter(|v| v.len() >= 4)
            // A secret also leaks as base64 (a basic-auth header, a
            // Kubernetes secret dumped by a deploy script).
            .flat_map(|v| {
                let encoded = base64_forms(v.as_bytes());
                std::iter::once(v).chain(encoded)
            })
            .collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Masker { secrets }
    }

    pub fn mask(&self, line: &str) -> String {
        let mut out = line.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

/// The base64 forms of `bytes`: standard and URL-safe alphabets, with and
/// without padding.
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut padded = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                padded.push(char::from(STD[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                padded.push('=');
            }
        }
    }
    let bare = padded.trim_end_matches('=').to_string();
    let url = |s: &str| s.replace('+', "-").replace('/', "_");
    let mut forms = vec![url(&padded), url(&bare), padded, bare];
    forms.sort();
    forms.dedup();
    forms
}

/// Turn raw bytes of one output line into what is logged and streamed.
pub fn clean_line(raw: &[u8], masker: &Masker) -> String {
    // Most output is printable ASCII, which sanitizing leaves as it is
    // (and masking keeps printable ASCII): one copy, no char-by-char pass.
    if raw.len() <= MAX_LINE && raw.iter().all(|b| (0x20..0x7f).contains(b)) {
        let text = String::from_utf8_lossy(raw).into_owned();
        if masker.secrets.is_empty() {
            return text;
        }
        let line = masker.mask(&masker.mask(&text));
        if line.len() <= MAX_LINE {
            return line;
        }
    }
    let text = String::from_utf8_lossy(raw);
    // Mask before sanitizing (a secret must not survive by losing a control
    // character in between) and after (sanitizing can join its halves).
    let mut line = masker.mask(&sanitize_text(&masker.mask(&text)));
    if line.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str(" [line cut]");
    }
    line
}

/// Where a step's output goes; clone it for each producer.
#[derive(Clone)]
pub struct LineSender {
    tx: mpsc::Sender<Vec<Vec<u8>>>,
}

impl LineSender {
    /// Send one raw line (without its newline). Waits when the sink is
    /// behind, which in turn makes a chatty child wait on its pipe.
    pub async fn send(&self, raw: Vec<u8>) {
        self.send_lines(vec![raw]).await;
    }

    /// Send several raw lines at once, in order: a chatty step's reader
    /// hands over everything one read brought, one message and at most one
    /// wake-up of the sink per read rather than per line.
    pub async fn send_lines(&self, lines: Vec<Vec<u8>>) {
        if lines.is_empty() {
            return;
        }
        // An error means the sink is gone: the step is over, nothing to do.
        let _ = self.tx.send(lines).await;
    }

    /// A note from ferry itself (probe results, the build's progress).
    pub async fn note(&self, text: impl Into<String>) {
        self.send(text.into().into_bytes()).await;
    }
}

/// Lines per block of a log's index: `<log>.idx` holds, as little-endian
/// u64s, the byte offset of line `k * INDEX_BLOCK` for k = 1, 2, ..., so a
/// reader seeks to the block it wants and scans at most one block.
pub const INDEX_BLOCK: u64 = 256;

/// Where the index of the log at `log` is.
pub fn index_path(log: &Path) -> std::path::PathBuf {
    let mut name = log.as_os_str().to_os_string();
    name.push(".idx");
    name.into()
}

/// What the sink saw, once every sender is gone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkSummary {
    pub lines: u64,
    pub dropped: u64,
    pub batches: u64,
}

/// Open (append to) the log file at `path` and start the sink task. The
/// task ends when every `LineSender` is dropped, after writing and streaming
/// everything it got: await it before reporting the step finished, so no
/// output arrives after the result.
pub async fn spawn_sink(
    path: &Path,
    masker: Masker,
    run: RunId,
    step: usize,
    inputs: impl Into<InputSender>,
) -> std::io::Result<(LineSender, JoinHandle<SinkSummary>)> {
    spawn_sink_limited(path, masker, run, step, inputs.into(), MAX_LOG_BYTES).await
}

/// `spawn_sink` with a log file size limit of `limit` bytes.
pub async fn spawn_sink_limited(
    path: &Path,
    masker: Masker,
    run: RunId,
    step: usize,
    inputs: impl Into<InputSender>,
    limit: u64,
) -> std::io::Result<(LineSender, JoinHandle<SinkSummary>)> {
    let inputs = inputs.into();
    // One trip to the blocking pool for the directory, the log and its
    // index (each tokio::fs call is a trip of its own): this is on the path
    // between one step's exit and the next one's start.
    let owned = path.to_path_buf();
    let (file, index) = tokio::task::spawn_blocking(move || open_log(&owned))
        .await
        .map_err(std::io::Error::other)??;
    let file = tokio::fs::File::from_std(file);
    let index = index.map(tokio::fs::File::from_std);
    // Messages carry up to a read's worth of lines (64 KiB), so 64 of them
    // bound the memory a sink that is behind can hold to a few MiB.
    let (tx, rx) = mpsc::channel(64);
    let sink = Sink {
        index,
        index_pending: Vec::new(),
        file_lines: 0,
        file_bytes: 0,
        file: tokio::io::BufWriter::with_capacity(LOG_BUFFER, file),
        masker,
        run,
        step,
        inputs,
        pending: Vec::new(),
        pending_bytes: 0,
        summary: SinkSummary::default(),
        dropped_since: 0,
        path: path.display().to_string(),
        write_failed: false,
        written: 0,
        limit,
        capped: false,
    };
    Ok((LineSender { tx }, tokio::spawn(sink.run(rx))))
}

/// Open (append to) the log at `path`, making its directory, and create
/// its index when the log is new. The index covers a log the sink starts:
/// one appended to (a file that already has lines) keeps its old index,
/// which stays right for the lines it covers; readers scan past its last
/// entry.
fn open_log(path: &Path) -> std::io::Result<(std::fs::File, Option<std::fs::File>)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let index = if file.metadata()?.len() == 0 {
        std::fs::File::create(index_path(path)).ok()
    } else {
        None
    };
    Ok((file, index))
}

struct Sink {
    file: tokio::io::BufWriter<tokio::fs::File>,
    /// The log's index (see `INDEX_BLOCK`), entries not yet written, and
    /// the lines and bytes written to the file so far.
    index: Option<tokio::fs::File>,
    index_pending: Vec<u8>,
    file_lines: u64,
    file_bytes: u64,
    masker: Masker,
    run: RunId,
    step: usize,
    inputs: InputSender,
    pending: Vec<String>,
    pending_bytes: usize,
    dropped_since: u64,
    summary: SinkSummary,
    path: String,
    write_failed: bool,
    /// Bytes written to the log file, where it stops, and whether it has.
    written: u64,
    limit: u64,
    capped: bool,
}

impl Sink {
    async fn run(mut self, mut rx: mpsc::Receiver<Vec<Vec<u8>>>) -> SinkSummary {
        let mut tick = tokio::time::interval(BATCH_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                lines = rx.recv() => {
                    let Some(lines) = lines else { break };
                    for raw in &lines {
                        self.line(raw).await;
                    }
                    // Take what is already queued too.
                    while let Ok(lines) = rx.try_recv() {
                        for raw in &lines {
                            self.line(raw).await;
                        }
                    }
                    // A quiet step's line reaches the file at once; a
                    // flood is written when the buffer fills and at each
                    // batch (`emit`), not once per burst: each flush of a
                    // tokio File is a trip to the blocking pool.
                    if rx.is_empty() && self.quiet_since_flush() {
                        self.flush().await;
                    }
                }
                _ = tick.tick() => {
                    self.flush().await;
                    self.emit().await;
                }
            }
        }
        self.flush().await;
        self.emit().await;
        self.summary
    }

    async fn line(&mut self, raw: &[u8]) {
        let line = clean_line(raw, &self.masker);
        self.summary.lines += 1;
        let size = line.len() as u64 + 1;
        if !self.write_failed && !self.capped && self.written + size > self.limit {
            let note = format!(
                "ferry: the log stops here at {} MiB; later output is not kept\n",
                self.limit / (1024 * 1024)
            );
            self.indexed(note.len() as u64);
            let _ = self.file.write_all(note.as_bytes()).await;
            tracing::warn!("step log {} reached its size limit", self.path);
            self.capped = true;
        }
        if !self.write_failed && !self.capped {
            self.written += size;
            self.indexed(size);
            let mut written = self.file.write_all(line.as_bytes()).await;
            if written.is_ok() {
                written = self.file.write_all(b"\n").await;
            }
            if let Err(e) = written {
                // Keep streaming: losing the file must not lose the step.
                tracing::error!("could not write step log {}: {e}", self.path);
                self.write_failed = true;
                self.index = None;
            }
        }
        if self.pending.len() < MAX_BATCH && self.pending_bytes + line.len() <= MAX_BATCH_BYTES {
            self.pending_bytes += line.len();
            self.pending.push(line);
        } else {
            self.dropped_since += 1;
            self.summary.dropped += 1;
        }
    }

    /// Whether little was written since the last flush: a step printing
    /// now and then, whose lines should be readable from the file at once
    /// (a flood is flushed by the buffer filling and by the batch tick).
    fn quiet_since_flush(&self) -> bool {
        self.file.buffer().len() < QUIET_BYTES
    }

    /// A line of `bytes` bytes is about to be written to the file.
    fn indexed(&mut self, bytes: u64) {
        if self.file_lines > 0 && self.file_lines.is_multiple_of(INDEX_BLOCK) {
            self.index_pending
                .extend_from_slice(&self.file_bytes.to_le_bytes());
        }
        self.file_lines += 1;
        self.file_bytes += bytes;
    }

    async fn flush(&mut self) {
        if !self.write_failed
            && let Err(e) = self.file.flush().await
        {
            tracing::error!("could not write step log {}: {e}", self.path);
            self.write_failed = true;
            self.index = None;
        }
        // After the log: an entry never points past what was written (and
        // readers ignore one that does).
        if let Some(index) = &mut self.index
            && !self.index_pending.is_empty()
        {
            // tokio's File finishes a write in the background: flush waits.
            let mut ok = index.write_all(&self.index_pending).await;
            if ok.is_ok() {
                ok = index.flush().await;
            }
            self.index_pending.clear();
            if let Err(e) = ok {
                // Readers scan instead; a torn index would only be longer
                // than this file's lines, and entries past its end are ignored.
                tracing::debug!("could not write the index of {}: {e}", self.path);
                self.index = None;
            }
        }
    }

    /// Hand the pending batch to the driver, waiting while its queue is
    /// full (see `runner::inputs`): meanwhile no line is read, so a step
    /// that outruns the driver blocks on its pipe.
    async fn emit(&mut self) {
        if self.pending.is_empty() && self.dropped_since == 0 {
            return;
        }
        self.summary.batches += 1;
        self.pending_bytes = 0;
        let batch = Input::StepOutput {
            run: self.run.clone(),
            step: self.step,
            lines: std::mem::take(&mut self.pending),
            dropped: std::mem::take(&mut self.dropped_since),
        };
        // An error means the driver is gone: the server is stopping.
        let _ = self.inputs.send_bulk(batch).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_a_secret_is_masked() {
        let m = Masker::new(vec!["hunter22".to_string(), "s3cr3t-value?>".to_string()]);
        // "hunter22" in base64, as in a basic-auth header.
        assert_eq!(
            m.mask("Authorization: Basic aHVudGVyMjI="),
            "Authorization: Basic ***"
        );
        assert_eq!(m.mask("x aHVudGVyMjI y"), "x *** y");
        // Standard and URL-safe alphabets.
        assert_eq!(
            base64_forms(b"s3cr3t-value?>")[..],
            ["czNjcjN0LXZhbHVlPz4", "czNjcjN0LXZhbHVlPz4="]
        );
        assert_eq!(
            base64_forms(b"\xfb\xff")[..],
            ["+/8", "+/8=", "-_8", "-_8="]
        );
    }

    #[test]
    fn masks_sanitizes_and_caps() {
        let m = Masker::new(vec!["hunter22".to_string(), "abc".to_string()]);
        assert_eq!(clean_line(b"pw=hunter22 abc", &m), "pw=*** abc");
        // A control character inside the secret does not let it through.
        assert_eq!(clean_line(b"pw=hunter\x1b[0m22", &m), "pw=***");
        assert_eq!(
            clean_line(b"bad \xff\xfe utf8", &m),
            "bad \u{fffd}\u{fffd} utf8"
        );
        let long = "é".repeat(5000);
        let cut = clean_line(long.as_bytes(), &m);
        assert!(cut.len() <= MAX_LINE + 16 && cut.ends_with("[line cut]"));
    }

    #[test]
    fn multi_line_secrets_are_masked_line_by_line() {
        let pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\nhkiG9w0BAQEFAASC\n-----END KEY-----\n";
        let m = Masker::new(vec![pem.to_string(), "token1234\n".to_string()]);
        assert_eq!(clean_line(b"MIIEvQIBADANBgkq", &m), "***");
        assert_eq!(clean_line(b"key: hkiG9w0BAQEFAASC", &m), "key: ***");
        assert_eq!(clean_line(b"auth token1234 ok", &m), "auth *** ok");
    }

    #[tokio::test]
    async fn writes_every_line_and_streams_bounded_batches() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("logs/r/0.log");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (lines, task) =
            spawn_sink(&path, Masker::new(vec!["s3cret".into()]), "r".into(), 0, tx)
                .await
                .unwrap();
        for i in 0..1000 {
            lines.send(format!("line {i} s3cret").into_bytes()).await;
        }
        drop(lines);
        let summary = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1000);
        assert_eq!(text.lines().nth(999), Some("line 999 ***"));
        let mut streamed = 0;
        let mut dropped = 0;
        while let Ok(Input::StepOutput {
            lines, dropped: d, ..
        }) = rx.try_recv()
        {
            assert!(lines.len() <= MAX_BATCH);
            streamed += lines.len() as u64;
            dropped += d;
        }
        assert_eq!(streamed + dropped, 1000);
        assert_eq!(dropped, summary.dropped);
    }

    #[tokio::test]
    async fn a_log_file_stops_at_its_limit_with_a_note_and_streaming_goes_on() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("0.log");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (lines, task) = spawn_sink_limited(&path, Masker::default(), "r".into(), 0, tx, 1000)
            .await
            .unwrap();
        for i in 0..100 {
            lines
                .send(format!("line {i:04} of output").into_bytes())
                .await;
        }
        drop(lines);
        let summary = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() <= 1000 + 100, "{} bytes", text.len());
        assert!(text.starts_with("line 0000 of output\n"), "{text:?}");
        assert!(
            text.trim_end().ends_with("later output is not kept"),
            "{text}"
        );
        assert_eq!(summary.lines, 100);
        let mut streamed = 0;
        while let Ok(Input::StepOutput { lines, dropped, .. }) = rx.try_recv() {
            streamed += lines.len() as u64 + dropped;
        }
        assert_eq!(streamed, 100, "the stream still counts every line");
    }

    #[tokio::test]
    async fn batches_are_bounded_in_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("0.log");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (lines, task) = spawn_sink(&path, Masker::default(), "r".into(), 0, tx)
            .await
            .unwrap();
        for _ in 0..100 {
            lines.send(vec![b'x'; 3000]).await;
        }
        drop(lines);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        let mut total = 0;
        while let Ok(Input::StepOutput { lines, dropped, .. }) = rx.try_recv() {
            let bytes: usize = lines.iter().map(String::len).sum();
            assert!(bytes <= MAX_BATCH_BYTES, "{bytes} bytes in one batch");
            total += lines.len() as u64 + dropped;
        }
        assert_eq!(total, 100);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 100);
    }
}
