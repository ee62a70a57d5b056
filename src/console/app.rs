//! The console's state, every type of it: the folded server state plus
//! everything about the screen (selection, open screens, dialogs, toasts,
//! pending requests). Only `update` (through `screens` and `dialogs`)
//! changes it; views only read it.

use std::collections::VecDeque;

use tui_input::Input;

use crate::api::Evidence;
use crate::engine::{Principal, ServiceState, State};
use crate::model::{ArtifactId, Decision, Deployment, DeploymentId, Millis, RunId};

use crate::present::cells::RunRef;

use super::keymap::Scope;
use super::msg::Request;

pub use crate::present::narrate::{FeedItem, Level};

/// How many activity lines are kept; older ones fall off.
pub const FEED_CAP: usize = 10_000;
/// How many log lines of one step are kept in memory; the file has them all.
pub const LOG_CAP: usize = 5_000;
/// Lines asked for when a step's log is first opened.
pub const LOG_TAIL: u64 = 1_000;
/// How often the configured freeze windows open now are asked again.
pub const FREEZES_MS: Millis = 60_000;
/// Info toasts vanish after this long; errors stay until dismissed.
pub const TOAST_MS: Millis = 4_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Connected,
    Reconnecting { attempt: u32, error: String },
}

#[derive(Debug, Clone, Default)]
pub struct HeaderInfo {
    pub server_label: String,
    pub server_version: Option<String>,
    pub demo_workspace: Option<String>,
    pub user: Option<Principal>,
}

/// How a toast reads: what the server accepted (✓), plain information,
/// a warning (nothing was done), or an error (a refusal: stays until Esc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastLevel {
    Success,
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub id: u64,
    /// The same as `level == Error`, kept for the dismissal rules.
    pub error: bool,
    pub level: ToastLevel,
    pub text: String,
    pub at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: u64,
    /// While it runs: "approving d-9 (checkout 1.4.4 → prod)".
    pub label: String,
    /// The toast when the server accepts it: "approved d-9 (...)".
    pub done: String,
    /// The toast prefix when it refuses: "approve d-9 (...)".
    pub what: String,
    pub since: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Main,
    Side,
}

#[derive(Debug, Clone, Default)]
pub struct GridState {
    pub row: usize,
    /// 0 is the build column, 1.. the stage columns.
    pub col: usize,
    pub filter: Input,
    pub filtering: bool,
    pub feed_focus: bool,
    /// The activity cursor (0 is the newest line); above 0 the feed is
    /// paused: new lines go above and the cursor stays on its line.
    pub feed_scroll: usize,
    /// Lines that arrived while the feed was paused.
    pub feed_new: usize,
    /// Where the last `!` press landed in the attention list; any other key
    /// forgets it, so the next `!` starts at the newest again.
    pub attention: Option<usize>,
    /// The first snapshot put the cursor on the last stage (prod).
    pub placed: bool,
}

/// The lines of one step's log we hold, and how to follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogView {
    pub run: RunId,
    pub step: usize,
    pub lines: VecDeque<String>,
    /// File line number of `lines[0]`.
    pub first_offset: u64,
    /// File line number of the next line we do not have.
    pub next_offset: u64,
    pub loaded: bool,
    /// The request in flight (replies to any other are stale).
    pub request: Option<u64>,
    /// New output arrived while a request was in flight: ask again after it.
    pub stale: bool,
    pub follow: bool,
    /// Lines scrolled up from the bottom when not following.
    pub from_bottom: usize,
    pub error: Option<String>,
}

impl LogView {
    pub fn new(run: &str, step: usize) -> Self {
        LogView {
            run: run.into(),
            step,
            lines: VecDeque::new(),
            first_offset: 0,
            next_offset: 0,
            loaded: false,
            request: None,
            stale: false,
            follow: true,
            from_bottom: 0,
            error: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DetailState {
    pub run: RunRef,
    pub step: usize,
    pub steps_focus: bool,
    pub log: Option<LogView>,
    pub evidence: Option<Result<Box<Evidence>, String>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApprovalsState {
    pub selected: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryState {
    pub service: String,
    pub stage: String,
    /// Deployments fetched from the server that the state no longer holds.
    pub older: Vec<Deployment>,
    pub next_before: Option<DeploymentId>,
    pub request: Option<u64>,
    pub exhausted: bool,
    pub selected: usize,
}

/// The insights screen: the server's report (fetched on open, again as
/// deployments finish), and the selected service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InsightsState {
    pub selected: usize,
    pub report: Option<Result<Box<crate::insights::InsightsReport>, String>>,
    /// The request in flight (replies to any other are stale).
    pub request: Option<u64>,
    /// Events arrived while a request was in flight: ask again after it.
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Detail(Box<DetailState>),
    Approvals(ApprovalsState),
    History(HistoryState),
    Insights(InsightsState),
    /// Time travel (`screens::travel`): `App::state` is the past one meanwhile.
    Travel(Box<TravelState>),
}

/// Time travel: the live state kept aside (events still fold into it)
/// while `App::state` shows the past; where in the log that is.
#[derive(Debug, Clone, PartialEq)]
pub struct TravelState {
    pub live: State,
    /// The answer shown (None until the first arrives).
    pub as_of: Option<crate::api::AsOf>,
    /// The request in flight (replies to any other are stale).
    pub request: Option<u64>,
}

/// The two buttons of a confirmation dialog. `Cancel` is the safe one
/// ("Cancel", or "Keep" in the cancel dialog) and always has the focus first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Cancel,
    Confirm,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RollbackDialog {
    pub service: String,
    pub stage: String,
    pub from_version: Option<String>,
    pub to_artifact: String,
    pub to_version: String,
    /// True when the target is the stage's last good release (not one
    /// picked from history).
    pub last_good: bool,
    pub deployed_at: Option<Millis>,
    pub deployed_by: Option<String>,
}

/// Cancel one deployment of a stage: the running one, else the next pending.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelDialog {
    pub service: String,
    pub stage: String,
    pub deployment: DeploymentId,
    pub version: String,
    /// Running (killed, then ends cancelled) rather than pending (ends at once).
    pub running: bool,
    /// "running step 2/3 health", "awaiting approval 0/1", "queued".
    pub status: String,
    /// What stays in the stage afterwards, e.g. "1.4.3 keeps running".
    pub after: String,
    pub rollback_auto: bool,
}

/// Promote an artifact into a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct PromoteDialog {
    pub service: String,
    pub stage: String,
    pub artifact: ArtifactId,
    pub version: String,
    /// The stage before, where it passed (None for the first stage).
    pub passed_in: Option<String>,
    /// When it passed there last (or, for the first stage, was created).
    pub at: Option<Millis>,
    /// "It replaces 1.4.3", "Nothing runs in test yet".
    pub replaces: String,
    /// "awaiting approval by release-manager", "auto: it starts when test is free".
    pub gate: String,
    /// Pending deployments it supersedes: "d-9 (1.4.4, awaiting approval)".
    pub supersedes: Vec<String>,
    /// The running deployment it queues behind: "d-11 (2.0.0)".
    pub behind: Option<String>,
    /// Newer releases `p` skipped as quarantined: "1.1.0 (quarantined since …)".
    pub skipped: Vec<String>,
}

/// The words of a confirmation dialog, made when it opens.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmText {
    pub title: &'static str,
    /// Drawn with the colour of failure (roll back, cancel) rather than of waiting.
    pub danger: bool,
    /// "prod: checkout 1.4.3 → 1.4.2 (last good, deployed 2 days ago by alice)"
    pub headline: String,
    /// What happens, as the engine does it.
    pub body: String,
    /// The safe button first (focused at first), then the one that acts.
    pub buttons: [String; 2],
    pub hint: &'static str,
}

/// Pass or fail the sign-off step a running deployment waits at.
#[derive(Debug, Clone, PartialEq)]
pub struct SignOffDialog {
    pub deployment: DeploymentId,
    pub service: String,
    pub stage: String,
    pub version: String,
    /// The step's name (`uat`).
    pub step: String,
    /// "qa", "qa or product".
    pub roles: String,
    pub comment: Option<String>,
    pub verdict: crate::model::Verdict,
}

/// What a confirmation is about: the facts its text was made from.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    Rollback(RollbackDialog),
    Cancel(CancelDialog),
    Promote(PromoteDialog),
    SignOff(SignOffDialog),
    /// Freeze a stage by hand (`unfreeze`: end its ad-hoc freeze).
    Freeze {
        service: String,
        stage: String,
        unfreeze: bool,
    },
    /// Break-glass: promote into a frozen stage now (`dialogs::breakglass`).
    BreakGlass(BreakGlassDialog),
}

/// Override the freezes over a stage to start one release there now.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakGlassDialog {
    pub service: String,
    pub stage: String,
    pub artifact: ArtifactId,
    pub version: String,
    /// The deployment already waiting for the window, which the override
    /// lets start (else the override creates a new promotion).
    pub waiting: Option<DeploymentId>,
    /// The freezes in the way: "year-end (until 18:00 UTC: close the books)".
    pub freezes: Vec<String>,
}

/// The text line a confirmation needs filled before it sends: the reason
/// of a freeze or of a break-glass override, and a freeze's length. It is
/// the comment input's line (`tui_input`, the `Input` scope): while it is
/// open keys type into it, Enter confirms, Esc closes.
#[derive(Debug, Clone, Default)]
pub struct ReasonLine {
    pub input: Input,
    /// A freeze's length ("1h"); Tab moves between it and the reason.
    pub duration: Option<Input>,
    pub on_duration: bool,
    /// What the last Enter found missing, shown under the line; nothing was sent.
    pub missing: Option<String>,
}

/// The one confirmation dialog: it holds the request it sends on `y` (or
/// Enter on the confirm button) and the words for it; anything else closes
/// it and sends nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub request: Request,
    /// What the spinner and the toasts say about the request (its `since`
    /// is set when it is sent).
    pub pending: Pending,
    pub subject: Subject,
    pub text: ConfirmText,
    pub focus: Button,
    /// The reason (and length) it needs typed before it may send.
    pub reason: Option<ReasonLine>,
}

#[derive(Debug, Clone)]
pub struct CommentInput {
    /// The decision it comes with; `None`: a note (`n` in the detail).
    pub decision: Option<Decision>,
    /// The sign-off step it is the comment of (`S`); then the verdict is
    /// chosen in the confirmation that follows.
    pub sign_off: Option<String>,
    pub deployment: DeploymentId,
    pub digest: String,
    /// "checkout 1.4.3 → prod"
    pub subject: String,
    pub input: Input,
}

/// The `:` command line: what is typed, the last error (shown inline, the
/// line stays open), and the candidates of the last Tab.
#[derive(Debug, Clone, Default)]
pub struct CommandLine {
    pub input: Input,
    pub error: Option<String>,
    /// Candidates for the word under completion, and which one Tab put in
    /// (Tab again puts the next).
    pub candidates: Vec<String>,
    pub cycle: Option<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct HelpState {
    pub filter: Input,
    pub scroll: usize,
}

#[derive(Debug, Clone)]
pub enum Modal {
    Confirm(Box<Confirm>),
    Help(HelpState),
    Comment(CommentInput),
    Command(CommandLine),
}

#[derive(Debug, Clone)]
pub struct App {
    pub state: State,
    /// A snapshot arrived (before that the grid says "connecting").
    pub loaded: bool,
    pub header: HeaderInfo,
    pub conn: Conn,
    /// Screens above the dashboard; Esc pops one.
    pub screens: Vec<Screen>,
    pub modal: Option<Modal>,
    pub grid: GridState,
    /// Newest first.
    pub feed: VecDeque<FeedItem>,
    pub toasts: Vec<Toast>,
    pub pending: Vec<Pending>,
    /// Why stages wait, as the server last said (`blocked` of the dashboard).
    pub blocked: Vec<crate::api::BlockedNote>,
    /// A `blocked` refresh in flight, and whether events came since it left.
    pub blocked_request: Option<u64>,
    pub blocked_stale: bool,
    /// Configured freeze windows open now, as the server last said (the
    /// console has no configuration; ad-hoc freezes are in the state).
    pub freezes: Vec<crate::api::FreezeNote>,
    /// When they were last fetched: a window opens with no event, so they
    /// are asked again every `FREEZES_MS`.
    pub freezes_at: Millis,
    /// The leader the server last reported (its epoch), to notice a change.
    pub leader_epoch: Option<u64>,
    pub next_id: u64,
    pub pending_key: Option<char>,
    pub size: (u16, u16),
    pub dirty: bool,
    pub quit: bool,
}

impl App {
    pub fn new(server_label: &str, demo_workspace: Option<String>, size: (u16, u16)) -> Self {
        App {
            state: State::default(),
            loaded: false,
            header: HeaderInfo {
                server_label: server_label.to_string(),
                demo_workspace,
                ..HeaderInfo::default()
            },
            conn: Conn::Connecting,
            screens: Vec::new(),
            modal: None,
            grid: GridState::default(),
            feed: VecDeque::new(),
            toasts: Vec::new(),
            pending: Vec::new(),
            blocked: Vec::new(),
            blocked_request: None,
            blocked_stale: false,
            freezes: Vec::new(),
            freezes_at: 0,
            leader_epoch: None,
            next_id: 1,
            pending_key: None,
            size,
            dirty: true,
            quit: false,
        }
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The scope keys are looked up in, from the innermost open thing.
    pub fn scope(&self) -> Scope {
        match &self.modal {
            // A reason line takes the keys: Enter confirms, Esc closes.
            Some(Modal::Confirm(c)) if c.reason.is_some() => return Scope::Input,
            Some(Modal::Confirm(_)) => return Scope::Confirm,
            Some(Modal::Help(_)) => return Scope::Help,
            Some(Modal::Comment(_)) | Some(Modal::Command(_)) => return Scope::Input,
            None => {}
        }
        if self.screens.is_empty() && self.grid.filtering {
            return Scope::Input;
        }
        match self.screens.last() {
            None => Scope::Dashboard,
            Some(Screen::Detail(_)) => Scope::Detail,
            Some(Screen::Approvals(_)) => Scope::Approvals,
            Some(Screen::History(_)) => Scope::History,
            Some(Screen::Insights(_)) => Scope::Insights,
            Some(Screen::Travel(_)) => Scope::Travel,
        }
    }

    /// Services shown on the dashboard: all, or those matching the filter.
    pub fn visible_services(&self) -> Vec<&ServiceState> {
        let needle = self.grid.filter.value().to_lowercase();
        self.state
            .services
            .iter()
            .filter(|s| needle.is_empty() || s.name.to_lowercase().contains(&needle))
            .collect()
    }

    /// Stage names across services in pipeline order (services usually
    /// share one pipeline; a stage only some have goes after its predecessor).
    pub fn columns(&self) -> Vec<String> {
        columns_of(&self.state)
    }

    /// The selected service and stage name (None for the build column).
    pub fn selected(&self) -> Option<(&ServiceState, Option<String>)> {
        let services = self.visible_services();
        let svc = *services.get(self.grid.row)?;
        if self.grid.col == 0 {
            return Some((svc, None));
        }
        let cols = self.columns();
        Some((svc, cols.get(self.grid.col - 1).cloned()))
    }

    pub fn spinner_visible(&self) -> bool {
        !self.pending.is_empty()
    }

    /// An error toast (`error`), else an informational one.
    pub fn toast(&mut self, error: bool, text: impl Into<String>, now: Millis) {
        let level = if error {
            ToastLevel::Error
        } else {
            ToastLevel::Info
        };
        self.toast_at(level, text, now);
    }

    pub fn toast_at(&mut self, level: ToastLevel, text: impl Into<String>, now: Millis) {
        let id = self.next_id();
        self.toasts.push(Toast {
            id,
            error: level == ToastLevel::Error,
            level,
            text: text.into(),
            at: now,
        });
        // Never let a flood of refusals cover the screen.
        if self.toasts.len() > 5 {
            self.toasts.remove(0);
        }
    }
}

impl App {
    /// Deployments of a stage newest first: the state's, then older pages.
    pub fn history_rows<'a>(&'a self, h: &'a HistoryState) -> Vec<&'a Deployment> {
        let mut rows: Vec<&Deployment> = self
            .state
            .stage(&h.service, &h.stage)
            .map(|st| {
                st.history
                    .iter()
                    .rev()
                    .filter_map(|id| self.state.deployments.get(id))
                    .collect()
            })
            .unwrap_or_default();
        for d in &h.older {
            if !rows.iter().any(|r| r.id == d.id) {
                rows.push(d);
            }
        }
        rows
    }
}

pub fn columns_of(state: &State) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for svc in &state.services {
        let mut after: Option<usize> = None;
        for st in &svc.stages {
            match cols.iter().position(|c| *c == st.name) {
                Some(i) => after = Some(i),
                None => {
                    let at = after.map(|i| i + 1).unwrap_or(cols.len());
                    cols.insert(at, st.name.clone());
                    after = Some(at);
                }
            }
        }
    }
    cols
}
