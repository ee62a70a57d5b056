//! `[[freezes]]`: what loads, and every way one can be wrong, each with the
//! file, line, key, value and what is allowed.

use super::support::{SERVICE, err, ok, pos};
use crate::config::FreezeWindow;

const USERS: &str = "[[users]]\nname = \"rm\"\nroles = [\"release-manager\"]\ntoken_sha256 = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n";

fn with(freeze: &str) -> String {
    format!("{USERS}{SERVICE}\n[[freezes]]\n{freeze}")
}

const ONCE: &str = "name = \"year-end\"\nstages = [\"prod\"]\nfrom = \"2026-12-20T00:00:00Z\"\nuntil = \"2027-01-04T08:00:00+01:00\"\nreason = \"year-end\"\noverride_roles = [\"release-manager\"]\n";
const WEEKLY: &str = "name = \"weekend\"\nstages = [\"prod\"]\nservices = [\"app\"]\ncron = \"0 18 * * FRI\"\nduration = \"62h\"\ntimezone = \"Europe/Berlin\"\nreason = \"no weekend deploys\"\n";

#[test]
fn one_off_and_recurring_windows_load() {
    let c = ok(&with(ONCE));
    let f = &c.freezes[0];
    assert_eq!(f.name, "year-end");
    assert_eq!(f.override_roles, vec!["release-manager".to_string()]);
    let FreezeWindow::Once { from, until } = f.window else {
        panic!("one-off");
    };
    // 2026-12-20T00:00:00Z and 2027-01-04T07:00:00Z.
    assert_eq!(from, 1_797_724_800_000);
    assert_eq!(until, 1_799_046_000_000);
    assert!(f.window.window_at(from).is_some());
    assert!(f.window.window_at(until).is_none());
    assert!(f.covers("app", "prod") && !f.covers("app", "test"));

    let c = ok(&with(WEEKLY));
    let w = &c.freezes[0].window;
    // Friday 2026-12-04 18:00 in Berlin is 17:00 UTC; the window lasts 62 h.
    let fri = 1_796_403_600_000;
    assert_eq!(w.window_at(fri), Some((fri, fri + 62 * 3_600_000)));
    assert_eq!(w.window_at(fri - 1), None);
    assert_eq!(w.window_at(fri + 61 * 3_600_000).map(|x| x.0), Some(fri));
    assert_eq!(w.window_at(fri + 62 * 3_600_000), None);
}

#[test]
fn an_invalid_cron_expression() {
    let text = with(&WEEKLY.replace("0 18 * * FRI", "0 18 * * FUNDAY"));
    let e = err(&text);
    assert_eq!(e.key, "freezes[0].cron");
    assert!(
        e.message
            .contains("`0 18 * * FUNDAY` is not a valid cron expression"),
        "{}",
        e.message
    );
    assert_eq!((e.line, e.column), pos(&text, "\"0 18 * * FUNDAY\""));
    assert!(
        e.help
            .contains("minute hour day-of-month month day-of-week"),
        "{}",
        e.help
    );
}

#[test]
fn an_unknown_time_zone() {
    let text = with(&WEEKLY.replace("Europe/Berlin", "Europe/Berlim"));
    let e = err(&text);
    assert_eq!(e.key, "freezes[0].timezone");
    assert_eq!(e.message, "`Europe/Berlim` is not a known time zone");
    assert_eq!((e.line, e.column), pos(&text, "\"Europe/Berlim\""));
    assert!(e.help.contains("Europe/Berlin"), "{}", e.help);
}

#[test]
fn until_before_from() {
    let text = with(&ONCE.replace("2027-01-04T08:00:00+01:00", "2026-12-01T00:00:00Z"));
    let e = err(&text);
    assert_eq!(e.key, "freezes[0].until");
    assert!(e.message.contains("is not after `from`"), "{}", e.message);
    assert!(e.message.contains("2026-12-01T00:00:00Z"), "{}", e.message);
    assert_eq!((e.line, e.column), pos(&text, "\"2026-12-01T00:00:00Z\""));
    let e = err(&with(&ONCE.replace("2026-12-20T00:00:00Z", "next monday")));
    assert_eq!(e.key, "freezes[0].from");
    assert!(e.help.contains("RFC 3339"), "{}", e.help);
}

#[test]
fn an_unknown_stage_or_service() {
    let text = with(&ONCE.replace("[\"prod\"]", "[\"prdo\"]"));
    let e = err(&text);
    assert_eq!(e.key, "freezes[0].stages[0]");
    assert!(e.message.contains("`prdo`"), "{}", e.message);
    assert!(e.help.contains("did you mean `prod`?"), "{}", e.help);
    assert_eq!((e.line, e.column), pos(&text, "\"prdo\""));
    let text = with(&WEEKLY.replace("[\"app\"]", "[\"billing\"]"));
    let e = err(&text);
    assert_eq!(e.key, "freezes[0].services[0]");
    assert_eq!(e.message, "freeze `weekend` names no service `billing`");
    assert!(e.help.contains("`app`"), "{}", e.help);
}

#[test]
fn an_override_role_no_user_holds() {
    let text = with(&ONCE.replace("[\"release-manager\"]", "[\"release-managers\"]"));
    let e = err(&text);
    assert_eq!(e.key, "freezes[0].override_roles[0]");
    assert_eq!(
        e.message,
        "freeze `year-end` lets the role `release-managers` override it, but no user holds it"
    );
    assert!(e.help.contains("`release-manager`"), "{}", e.help);
}

#[test]
fn a_window_is_one_off_or_recurring() {
    let e = err(&with(&format!("{ONCE}cron = \"0 18 * * FRI\"\n")));
    assert!(e.message.contains("not both"), "{}", e.message);
    let e = err(&with(&WEEKLY.replace("duration = \"62h\"\n", "")));
    assert_eq!(e.key, "freezes[0].cron");
    assert!(
        e.message.contains("needs both `cron` and `duration`"),
        "{}",
        e.message
    );
    let e = err(&with(
        &ONCE.replace("until = \"2027-01-04T08:00:00+01:00\"\n", ""),
    ));
    assert!(
        e.message.contains("needs both `from` and `until`"),
        "{}",
        e.message
    );
    let e = err(&with(&format!("{ONCE}color = \"blue\"\n")));
    assert_eq!(e.key, "freezes[0].color");
    let e = err(&with(&WEEKLY.replace("0 18 * * FRI", "0 0 31 2 *")));
    assert!(e.message.contains("never matches"), "{}", e.message);
}
