//! A build's one step finished: register its artifact and send it into the
//! first stage, or tell the developers why it failed.

use super::*;
use crate::model::Build;

impl Cx<'_> {
    pub(super) fn build_step_finished(
        &mut self,
        run: &str,
        step: usize,
        outcome: StepOutcome,
        built: Option<BuiltArtifact>,
    ) {
        let Some(b) = self.state.builds.get(run).cloned() else {
            return;
        };
        let status = outcome.status;
        let message = outcome.message.clone();
        self.emit(
            &Actor::ferry(),
            format!("build {}", status.as_str()),
            EventKind::StepFinished {
                run: run.into(),
                step,
                outcome,
            },
        );
        match (status, built) {
            (StepStatus::Passed, Some(built)) => self.build_succeeded(&b, built),
            (StepStatus::Cancelled, _) => self.build_cancelled(&b),
            (status, _) => self.build_failed(&b, status, &message),
        }
    }

    /// Register the built artifact (under a version of its own) and send it
    /// into the first stage.
    fn build_succeeded(&mut self, b: &Build, built: BuiltArtifact) {
        // The commit's author as a ferry user, when the config says
        // who they are: `allow_self = false` needs the person.
        let owner = Actor(self.config.user_for_author(b.author.name()));
        let id = ArtifactId::from(format!("a-{}", self.state.next_artifact + 1));
        // A version names one artifact: a rebuild with other bytes
        // under a version that was not bumped gets the commit added.
        let taken = self
            .state
            .find_artifact(&b.service, &built.version)
            .is_some_and(|a| a.digest != built.digest);
        let version = if taken {
            format!("{}+{}", built.version, short_sha(&b.commit))
        } else {
            built.version.clone()
        };
        let artifact = Artifact {
            id: id.clone(),
            service: b.service.clone(),
            version: version.clone(),
            commit: Some(b.commit.clone()),
            subject: b.subject.clone(),
            digest: built.digest,
            uri: built.uri,
            origin: ArtifactOrigin::Built {
                build: b.id.clone(),
            },
            created_by: owner.clone(),
            created_at: self.now,
            committed_at: built.committed_at,
            metadata: Default::default(),
        };
        self.emit(
            &Actor::ferry(),
            format!("built {version} from {}", short_sha(&b.commit)),
            EventKind::ArtifactRegistered { artifact },
        );
        let message = format!("built {version}");
        self.emit(
            &Actor::ferry(),
            message.clone(),
            EventKind::BuildFinished {
                build: b.id.clone(),
                status: BuildStatus::Succeeded,
                message,
            },
        );
        self.out.artifact = Some(id.clone());
        self.enter_first_stage(&b.service, &id, &owner);
    }

    fn build_cancelled(&mut self, b: &Build) {
        self.emit(
            &Actor::ferry(),
            "build cancelled",
            EventKind::BuildFinished {
                build: b.id.clone(),
                status: BuildStatus::Cancelled,
                message: "cancelled".into(),
            },
        );
    }

    /// The build failed (or passed without an artifact): say so, and tell
    /// the developers.
    fn build_failed(&mut self, b: &Build, status: StepStatus, message: &str) {
        let message = if status == StepStatus::Passed {
            "build produced no artifact".to_string()
        } else {
            format!("build {}: {message}", status.as_str().replace('_', " "))
        };
        self.emit(
            &Actor::ferry(),
            message.clone(),
            EventKind::BuildFinished {
                build: b.id.clone(),
                status: BuildStatus::Failed,
                message: message.clone(),
            },
        );
        self.effect(Effect::Notify(Notification {
            id: String::new(),
            kind: NotificationKind::BuildFailed,
            service: b.service.clone(),
            stage: None,
            version: None,
            commit: Some(b.commit.clone()),
            deployment: None,
            build: Some(b.id.clone()),
            message: format!(
                "{} build of {} by {} failed: {message}",
                b.service,
                short_sha(&b.commit),
                b.author
            ),
            at: self.now,
            failed_tests: None,
        }));
    }
}
