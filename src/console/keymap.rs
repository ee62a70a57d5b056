// Over 600 lines: the one binding table, kept whole so help, footer and dispatch read one list.
//! The one key table. `update` dispatches through `lookup`, the help screen
//! and the footer are generated from `BINDINGS`, so what the help says is
//! exactly what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. Screens are consulted before `Global`; modal
/// scopes (dialog, help, text input) shadow everything but ctrl-c.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Dashboard,
    Detail,
    Approvals,
    History,
    Insights,
    /// Time travel (`t`): read-only, the dashboard as it was.
    Travel,
    Confirm,
    Help,
    Input,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Dashboard => "Dashboard",
            Scope::Detail => "Deployment detail",
            Scope::Approvals => "Approvals",
            Scope::History => "Stage history",
            Scope::Insights => "Insights",
            Scope::Travel => "Time travel (read-only)",
            Scope::Confirm => "Confirmation (roll back, cancel, promote)",
            Scope::Help => "Help",
            Scope::Input => "Text input (filter, comment, reason, command line)",
        }
    }
    /// Whether global bindings (other than ctrl-c) apply under this scope.
    pub fn is_modal(self) -> bool {
        matches!(self, Scope::Confirm | Scope::Help | Scope::Input)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    ForceQuit,
    Quit,
    Help,
    Approvals,
    Insights,
    Note,
    Back,
    Up,
    Down,
    Left,
    Right,
    Top,
    Bottom,
    HalfPageUp,
    HalfPageDown,
    NextPane,
    Open,
    Filter,
    Rollback,
    CancelRun,
    Promote,
    History,
    Approve,
    Reject,
    Follow,
    Pick,
    Confirm,
    CancelDialog,
    Activate,
    ToggleButton,
    Submit,
    CancelInput,
    Click,
    Scroll,
    /// `!`: the next cell needing attention.
    Attention,
    /// 1–9: a stage column (the digit comes with the key).
    Column,
    /// In the detail: the deployment a rollback undid, or the rollback that undid it.
    Linked,
    /// `S`: pass or fail the sign-off step (user acceptance) a deployment waits at.
    SignOff,
    /// In a sign-off confirmation: switch between pass and fail.
    Verdict,
    /// `:`: the command line.
    CommandLine,
    /// Tab in the command line: complete the word.
    Complete,
    /// In a promote confirmation into a frozen stage: override the freeze.
    BreakGlass,
    /// On a stage: freeze it (asks why and for how long), or end its ad-hoc freeze.
    Freeze,
    /// `t`: time travel; then a step back or forward by event or by deployment.
    Travel,
    EventBack,
    EventForward,
    DeploymentBack,
    DeploymentForward,
}

/// One key (modifiers other than shift must match exactly; shift is implied
/// by the character), a two-key sequence like `gg`, or a mouse click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    Key(KeyCode, KeyModifiers),
    Seq(char, char),
    Click,
    Wheel,
    /// Any of the digits 1–9.
    Digits,
}

const fn ch(c: char) -> KeySpec {
    KeySpec::Key(KeyCode::Char(c), KeyModifiers::NONE)
}
const fn ctrl(c: char) -> KeySpec {
    KeySpec::Key(KeyCode::Char(c), KeyModifiers::CONTROL)
}
const fn key(code: KeyCode) -> KeySpec {
    KeySpec::Key(code, KeyModifiers::NONE)
}

pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [KeySpec],
    pub cmd: Cmd,
    pub help: &'static str,
    /// Short label for the footer, when the binding is worth a footer slot.
    pub footer: Option<&'static str>,
}

const fn b(
    scope: Scope,
    keys: &'static [KeySpec],
    cmd: Cmd,
    help: &'static str,
    footer: Option<&'static str>,
) -> Binding {
    Binding {
        scope,
        keys,
        cmd,
        help,
        footer,
    }
}

use Scope as S;

pub const BINDINGS: &[Binding] = &[
    b(
        S::Global,
        &[ctrl('c')],
        Cmd::ForceQuit,
        "quit, from anywhere",
        None,
    ),
    b(S::Global, &[ch('q')], Cmd::Quit, "quit", Some("quit")),
    b(
        S::Global,
        &[ch('?')],
        Cmd::Help,
        "help (this screen)",
        Some("help"),
    ),
    b(
        S::Global,
        &[ch('A')],
        Cmd::Approvals,
        "deployments awaiting approval",
        Some("approvals"),
    ),
    b(
        S::Global,
        &[ch('I')],
        Cmd::Insights,
        "insights: DORA metrics, where the time goes, flaky gates",
        None,
    ),
    b(
        S::Global,
        &[ch(':')],
        Cmd::CommandLine,
        "command line (Tab completes; :q quits)",
        Some("command"),
    ),
    b(
        S::Global,
        &[key(KeyCode::Esc)],
        Cmd::Back,
        "dismiss an error, clear the filter, or go back",
        None,
    ),
    b(
        S::Global,
        &[key(KeyCode::Up), ch('k')],
        Cmd::Up,
        "move up",
        None,
    ),
    b(
        S::Global,
        &[key(KeyCode::Down), ch('j')],
        Cmd::Down,
        "move down",
        None,
    ),
    b(
        S::Global,
        &[key(KeyCode::Left), ch('h')],
        Cmd::Left,
        "move left",
        None,
    ),
    b(
        S::Global,
        &[key(KeyCode::Right), ch('l')],
        Cmd::Right,
        "move right",
        None,
    ),
    b(
        S::Global,
        &[KeySpec::Seq('g', 'g'), key(KeyCode::Home)],
        Cmd::Top,
        "go to the top",
        None,
    ),
    b(
        S::Global,
        &[ch('G'), key(KeyCode::End)],
        Cmd::Bottom,
        "go to the bottom (the log: follow again)",
        None,
    ),
    b(
        S::Global,
        &[ctrl('u'), key(KeyCode::PageUp)],
        Cmd::HalfPageUp,
        "half a page up",
        None,
    ),
    b(
        S::Global,
        &[ctrl('d'), key(KeyCode::PageDown)],
        Cmd::HalfPageDown,
        "half a page down",
        None,
    ),
    b(
        S::Global,
        &[key(KeyCode::Tab)],
        Cmd::NextPane,
        "next pane",
        None,
    ),
    b(
        S::Global,
        &[KeySpec::Wheel],
        Cmd::Scroll,
        "scroll what is under the pointer: grid, activity or log",
        None,
    ),
    b(
        S::Dashboard,
        &[key(KeyCode::Enter)],
        Cmd::Open,
        "deployment detail of the selected cell",
        Some("detail"),
    ),
    b(
        S::Dashboard,
        &[ch('!')],
        Cmd::Attention,
        "next cell needing attention (failed, rolled back, awaiting you, frozen, awaiting sign-off), newest first",
        Some("trouble"),
    ),
    b(
        S::Dashboard,
        &[KeySpec::Digits],
        Cmd::Column,
        "jump to stage column 1–9",
        None,
    ),
    b(
        S::Dashboard,
        &[ch('r')],
        Cmd::Rollback,
        "roll the selected stage back to its last good artifact",
        Some("rollback"),
    ),
    b(
        S::Dashboard,
        &[ch('c')],
        Cmd::CancelRun,
        "cancel the running (else pending) deployment here",
        Some("cancel"),
    ),
    b(
        S::Dashboard,
        &[ch('p')],
        Cmd::Promote,
        "promote the previous stage's newest passed artifact",
        Some("promote"),
    ),
    b(
        S::Dashboard,
        &[ch('f')],
        Cmd::Freeze,
        "freeze the selected stage (asks why), or unfreeze it",
        None,
    ),
    b(
        S::Dashboard,
        &[ch('H')],
        Cmd::History,
        "history of the selected stage",
        Some("history"),
    ),
    b(
        S::Dashboard,
        &[ch('a')],
        Cmd::Approve,
        "approve the deployment waiting in the selected cell",
        Some("approve"),
    ),
    b(
        S::Dashboard,
        &[ch('x')],
        Cmd::Reject,
        "reject the deployment waiting in the selected cell",
        Some("reject"),
    ),
    b(
        S::Dashboard,
        &[ch('/')],
        Cmd::Filter,
        "filter services by name",
        Some("filter"),
    ),
    b(
        S::Dashboard,
        &[KeySpec::Click],
        Cmd::Click,
        "select the clicked cell",
        None,
    ),
    b(
        S::Dashboard,
        &[ch('S')],
        Cmd::SignOff,
        "sign off (pass or fail, with a comment) the UAT step the selected cell waits at",
        None,
    ),
    b(
        S::Detail,
        &[ch('f')],
        Cmd::Follow,
        "follow the log again",
        Some("follow"),
    ),
    b(
        S::Detail,
        &[ch('a')],
        Cmd::Approve,
        "approve this deployment",
        Some("approve"),
    ),
    b(
        S::Detail,
        &[ch('x')],
        Cmd::Reject,
        "reject this deployment",
        Some("reject"),
    ),
    b(
        S::Detail,
        &[ch('r')],
        Cmd::Rollback,
        "roll this deployment's stage back to its last good artifact",
        Some("rollback"),
    ),
    b(
        S::Detail,
        &[ch('u')],
        Cmd::Linked,
        "the deployment this rollback undid, or the rollback that undid it (Esc: back)",
        Some("undid/undone by"),
    ),
    b(
        S::Detail,
        &[ch('n')],
        Cmd::Note,
        "add a note (a lesson or comment) to this deployment",
        None,
    ),
    b(
        S::Detail,
        &[key(KeyCode::Esc)],
        Cmd::Back,
        "back",
        Some("back"),
    ),
    b(
        S::Detail,
        &[ch('S')],
        Cmd::SignOff,
        "sign off (pass or fail, with a comment) the UAT step this deployment waits at",
        None,
    ),
    b(
        S::Approvals,
        &[ch('a')],
        Cmd::Approve,
        "approve the selected deployment",
        Some("approve"),
    ),
    b(
        S::Approvals,
        &[ch('x')],
        Cmd::Reject,
        "reject the selected deployment",
        Some("reject"),
    ),
    b(
        S::Approvals,
        &[key(KeyCode::Enter)],
        Cmd::Open,
        "detail and evidence of the selected deployment",
        Some("detail"),
    ),
    b(
        S::Approvals,
        &[key(KeyCode::Esc)],
        Cmd::Back,
        "back",
        Some("back"),
    ),
    b(
        S::History,
        &[key(KeyCode::Enter), ch('d')],
        Cmd::Open,
        "detail of the selected deployment",
        Some("detail"),
    ),
    b(
        S::History,
        &[ch('r')],
        Cmd::Pick,
        "roll back to the selected artifact",
        Some("roll back to"),
    ),
    b(
        S::History,
        &[key(KeyCode::Esc)],
        Cmd::Back,
        "back",
        Some("back"),
    ),
    b(
        S::Insights,
        &[key(KeyCode::Esc)],
        Cmd::Back,
        "back",
        Some("back"),
    ),
    b(
        S::Dashboard,
        &[ch('t')],
        Cmd::Travel,
        "time travel: the dashboard as it was (read-only)",
        None,
    ),
    b(
        S::Travel,
        &[ch('[')],
        Cmd::EventBack,
        "one event back",
        Some("event"),
    ),
    b(
        S::Travel,
        &[ch(']')],
        Cmd::EventForward,
        "one event forward",
        None,
    ),
    b(
        S::Travel,
        &[ch('{')],
        Cmd::DeploymentBack,
        "back to the previous deployment change",
        Some("deployment"),
    ),
    b(
        S::Travel,
        &[ch('}')],
        Cmd::DeploymentForward,
        "forward to the next deployment change",
        None,
    ),
    b(
        S::Travel,
        &[key(KeyCode::Esc)],
        Cmd::Back,
        "back to live",
        Some("live"),
    ),
    b(
        S::Confirm,
        &[ch('y')],
        Cmd::Confirm,
        "confirm: roll back, cancel or promote",
        Some("confirm"),
    ),
    b(
        S::Confirm,
        &[ch('n'), key(KeyCode::Esc)],
        Cmd::CancelDialog,
        "close the dialog, changing nothing",
        Some("close"),
    ),
    b(
        S::Confirm,
        &[key(KeyCode::Enter)],
        Cmd::Activate,
        "press the focused button (Cancel/Keep at first)",
        None,
    ),
    b(
        S::Confirm,
        &[key(KeyCode::Tab), key(KeyCode::Left), key(KeyCode::Right)],
        Cmd::ToggleButton,
        "move between the two buttons",
        None,
    ),
    b(
        S::Confirm,
        &[ch('v')],
        Cmd::Verdict,
        "in a sign-off: switch between pass and fail (a fail needs the comment)",
        None,
    ),
    b(
        S::Confirm,
        &[ch('o')],
        Cmd::BreakGlass,
        "promote into a frozen stage: break-glass (asks why)",
        None,
    ),
    b(
        S::Help,
        &[key(KeyCode::Esc), ch('?')],
        Cmd::Back,
        "close help (and its filter)",
        Some("close"),
    ),
    b(
        S::Help,
        &[key(KeyCode::Up)],
        Cmd::Up,
        "scroll up; type to filter",
        None,
    ),
    b(
        S::Help,
        &[key(KeyCode::Down)],
        Cmd::Down,
        "scroll down",
        None,
    ),
    b(
        S::Help,
        &[key(KeyCode::PageUp)],
        Cmd::HalfPageUp,
        "page up",
        None,
    ),
    b(
        S::Help,
        &[key(KeyCode::PageDown)],
        Cmd::HalfPageDown,
        "page down",
        None,
    ),
    b(
        S::Input,
        &[key(KeyCode::Enter)],
        Cmd::Submit,
        "submit",
        Some("submit"),
    ),
    b(
        S::Input,
        &[key(KeyCode::Esc)],
        Cmd::CancelInput,
        "cancel",
        Some("cancel"),
    ),
    b(
        S::Input,
        &[key(KeyCode::Tab)],
        Cmd::Complete,
        "complete the word (command line); again: the next candidate",
        Some("complete"),
    ),
];

/// What a key press means in a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Cmd(Cmd),
    /// The first key of a sequence: wait for the next one.
    Pending(char),
    None,
}

fn normalized(ev: &KeyEvent) -> (KeyCode, KeyModifiers) {
    // Terminals report `A` as Char('A') + SHIFT, some as Char('A') alone.
    let mut mods = ev.modifiers;
    if let KeyCode::Char(_) = ev.code {
        mods.remove(KeyModifiers::SHIFT);
    }
    if ev.code == KeyCode::BackTab {
        mods.remove(KeyModifiers::SHIFT);
    }
    (ev.code, mods)
}

fn matches(spec: &KeySpec, code: KeyCode, mods: KeyModifiers) -> bool {
    match spec {
        KeySpec::Key(c, m) => *c == code && *m == mods,
        KeySpec::Digits => matches!(code, KeyCode::Char('1'..='9')) && mods == KeyModifiers::NONE,
        KeySpec::Seq(..) | KeySpec::Click | KeySpec::Wheel => false,
    }
}

/// Find the command for `ev` in `scope` (then in Global unless the scope is
/// modal). `pending` is the first key of a sequence typed just before.
pub fn lookup(scope: Scope, ev: &KeyEvent, pending: Option<char>) -> Lookup {
    let (code, mods) = normalized(ev);
    if matches(&ctrl('c'), code, mods) {
        return Lookup::Cmd(Cmd::ForceQuit);
    }
    let scopes: &[Scope] = if scope.is_modal() {
        &[scope]
    } else {
        &[scope, Scope::Global]
    };
    for s in scopes {
        for bind in BINDINGS.iter().filter(|b| b.scope == *s) {
            for spec in bind.keys {
                if let (KeySpec::Seq(first, second), KeyCode::Char(c), true) =
                    (spec, code, mods.is_empty())
                {
                    if pending == Some(*first) && c == *second {
                        return Lookup::Cmd(bind.cmd);
                    }
                    if pending.is_none() && c == *first {
                        return Lookup::Pending(c);
                    }
                }
                if matches(spec, code, mods) {
                    return Lookup::Cmd(bind.cmd);
                }
            }
        }
    }
    Lookup::None
}

/// How a key reads in help and footer: "ctrl-u", "↑", "gg", "Enter".
pub fn key_label(spec: &KeySpec) -> String {
    match spec {
        KeySpec::Seq(a, b) => format!("{a}{b}"),
        KeySpec::Click => "click".to_string(),
        KeySpec::Wheel => "wheel".to_string(),
        KeySpec::Digits => "1-9".to_string(),
        KeySpec::Key(code, mods) => {
            let base = match code {
                KeyCode::Char(c) => c.to_string(),
                KeyCode::Up => "↑".into(),
                KeyCode::Down => "↓".into(),
                KeyCode::Left => "←".into(),
                KeyCode::Right => "→".into(),
                KeyCode::Enter => "Enter".into(),
                KeyCode::Esc => "Esc".into(),
                KeyCode::Tab => "Tab".into(),
                KeyCode::Home => "Home".into(),
                KeyCode::End => "End".into(),
                KeyCode::PageUp => "PgUp".into(),
                KeyCode::PageDown => "PgDn".into(),
                other => format!("{other:?}"),
            };
            if mods.contains(KeyModifiers::CONTROL) {
                format!("ctrl-{base}")
            } else {
                base
            }
        }
    }
}

pub fn keys_label(keys: &[KeySpec]) -> String {
    keys.iter().map(key_label).collect::<Vec<_>>().join("/")
}

/// Bindings of one scope, in table order.
pub fn in_scope(scope: Scope) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| b.scope == scope)
}

pub const HELP_ORDER: &[Scope] = &[
    Scope::Global,
    Scope::Dashboard,
    Scope::Detail,
    Scope::Approvals,
    Scope::History,
    Scope::Insights,
    Scope::Travel,
    Scope::Confirm,
    Scope::Input,
    Scope::Help,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn screen_bindings_shadow_global_ones_and_ctrl_c_always_quits() {
        let esc = press(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(
            lookup(Scope::Confirm, &esc, None),
            Lookup::Cmd(Cmd::CancelDialog)
        );
        assert_eq!(lookup(Scope::Dashboard, &esc, None), Lookup::Cmd(Cmd::Back));
        let cc = press(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for s in HELP_ORDER {
            assert_eq!(lookup(*s, &cc, None), Lookup::Cmd(Cmd::ForceQuit));
        }
        let q = press(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(lookup(Scope::Input, &q, None), Lookup::None);
    }

    #[test]
    fn gg_is_a_sequence_and_shifted_letters_match() {
        let g = press(KeyCode::Char('g'), KeyModifiers::NONE);
        assert_eq!(lookup(Scope::Dashboard, &g, None), Lookup::Pending('g'));
        assert_eq!(
            lookup(Scope::Dashboard, &g, Some('g')),
            Lookup::Cmd(Cmd::Top)
        );
        let big_g = press(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(
            lookup(Scope::Detail, &big_g, None),
            Lookup::Cmd(Cmd::Bottom)
        );
    }
}
