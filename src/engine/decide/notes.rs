//! `ferry note`: a lesson or comment on a deployment, kept as an event.

use super::*;
use crate::model::{DeploymentId, Note};

impl Cx<'_> {
    pub(super) fn note(
        &mut self,
        by: &Principal,
        deployment: DeploymentId,
        text: String,
    ) -> Result<(), Rejection> {
        if !self.state.deployment_existed(&deployment) {
            return Err(reject(
                RejectionKind::NotFound,
                format!("no deployment {}", crate::model::sanitize_text(&deployment)),
            )
            .hint("`ferry history SERVICE` lists deployments"));
        }
        // One line: a note goes into tables, feeds and Markdown.
        let text = crate::model::sanitize_text(&text).trim().to_string();
        if text.is_empty() {
            return Err(reject(RejectionKind::Invalid, "the note is empty")
                .hint("say what was learned, e.g. \"the smoke test needs a warm cache\""));
        }
        let chars = text.chars().count();
        if chars > Note::MAX_CHARS {
            return Err(reject(
                RejectionKind::Invalid,
                format!(
                    "the note has {chars} characters; at most {} fit",
                    Note::MAX_CHARS
                ),
            )
            .hint("keep it to a line or two; link to a longer write-up"));
        }
        self.emit(
            &by.actor(),
            format!("{} noted on {deployment}", by.name),
            EventKind::NoteAdded {
                deployment: deployment.clone(),
                author: by.actor(),
                text,
            },
        );
        self.out.deployment = Some(deployment);
        Ok(())
    }
}
