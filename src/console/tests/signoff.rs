//! The sign-off dialog (`S`): a comment, then a confirmation of pass or
//! fail (`v` switches), holding the request it sends.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::super::app::{App, Modal};
use super::super::dialogs::signoff::open;
use super::super::msg::{Msg, Request};
use super::super::update::update;
use super::support::{self as fixture, NOW};
use crate::model::{DeploymentId, SignOffRule, StepKind, StepStatus, Verdict};

fn press(app: &mut App, c: KeyCode) -> Vec<Request> {
    update(app, Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)), NOW)
}

/// The fixture with its first running deployment waiting at a `uat` sign-off.
fn waiting_app() -> (App, DeploymentId) {
    let mut app = fixture::app((160, 48));
    let id = app
        .state
        .deployments
        .values()
        .find(|d| d.running_step().is_some())
        .map(|d| d.id.clone())
        .expect("the fixture runs a deployment");
    let d = app.state.deployments.get_mut(&id).unwrap();
    let i = d.running_step().unwrap();
    d.steps[i].name = "uat".into();
    d.steps[i].kind = StepKind::SignOff;
    d.steps[i].status = StepStatus::Running;
    d.steps[i].sign_off = Some(SignOffRule {
        roles: vec!["qa".into()],
        required: 1,
        allow_self: false,
    });
    (app, id)
}

#[test]
fn s_asks_for_a_comment_then_confirms_a_pass_and_v_switches_to_fail() {
    let (mut app, id) = waiting_app();
    open(&mut app, &id, NOW);
    assert!(matches!(&app.modal, Some(Modal::Comment(c)) if c.sign_off.as_deref() == Some("uat")));
    for c in "prices wrong".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert!(
        press(&mut app, KeyCode::Enter).is_empty(),
        "nothing sent yet"
    );
    let Some(Modal::Confirm(c)) = &app.modal else {
        panic!("a confirmation opens");
    };
    assert!(
        c.text.headline.contains("pass the UAT"),
        "{}",
        c.text.headline
    );
    press(&mut app, KeyCode::Char('v'));
    let Some(Modal::Confirm(c)) = &app.modal else {
        panic!("still a confirmation");
    };
    assert!(
        c.text.headline.contains("fail the UAT"),
        "{}",
        c.text.headline
    );
    let sent = press(&mut app, KeyCode::Char('y'));
    assert!(
        sent.iter().any(|r| matches!(r, Request::SignOff { deployment, step, verdict: Verdict::Fail, comment: Some(c), .. }
            if deployment == &id && step == "uat" && c == "prices wrong")),
        "{sent:?}"
    );
}

#[test]
fn a_fail_without_a_comment_is_not_offered_and_esc_sends_nothing() {
    let (mut app, id) = waiting_app();
    open(&mut app, &id, NOW);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('v'));
    let Some(Modal::Confirm(c)) = &app.modal else {
        panic!("the pass confirmation stays");
    };
    assert!(matches!(
        &c.request,
        Request::SignOff {
            verdict: Verdict::Pass,
            ..
        }
    ));
    assert!(press(&mut app, KeyCode::Esc).is_empty());
    assert!(app.modal.is_none());
}

#[test]
fn s_on_a_deployment_that_waits_for_nothing_says_so() {
    let mut app = fixture::app((160, 48));
    let id = app
        .state
        .deployments
        .keys()
        .next()
        .cloned()
        .expect("a deployment");
    open(&mut app, &id, NOW);
    assert!(app.modal.is_none());
    assert!(
        app.toasts
            .iter()
            .any(|t| t.text.contains("waits for no sign-off"))
    );
}

#[test]
fn the_detail_says_what_the_deployment_waits_for() {
    let (app, id) = waiting_app();
    let d = &app.state.deployments[&id];
    let lines = crate::present::signoff::lines(d, NOW);
    assert_eq!(
        lines,
        ["waiting for UAT sign-off by qa (0 of 1) · S: sign off"]
    );
}
