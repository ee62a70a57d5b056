//! The store tests every backend must pass. Each backend's test file opens
//! its stores (SQLite files, PostgreSQL databases) and calls these; the
//! backend-specific checks (pragmas, file names, SQL from outside) stay there.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Deposed, Heartbeat, Role, Store};
use crate::model::{
    Actor, DeploymentKind, DeploymentStatus, Event, EventKind, NewEvent, Seq, StepKind,
    StepOutcome, StepPlan, StepStatus, TestCounts,
};

pub(super) fn step_finished(i: u64) -> NewEvent {
    NewEvent {
        at: 1_700_000_000_000 + i as i64,
        actor: Actor::ferry(),
        reason: format!("step {i} ended"),
        kind: EventKind::StepFinished {
            run: format!("d-{i}").into(),
            step: 1,
            outcome: StepOutcome {
                status: StepStatus::Passed,
                exit_code: Some(0),
                tests: Some(TestCounts {
                    passed: 12,
                    failed: 0,
                    skipped: 1,
                }),
                message: "12 tests passed".into(),
                failed_tests: Vec::new(),
            },
        },
    }
}

pub(super) fn deployment_created(id: &str) -> NewEvent {
    NewEvent {
        at: 1_700_000_000_000,
        actor: Actor::user("alice"),
        reason: "promote v1.2.3 to test".into(),
        kind: EventKind::DeploymentCreated {
            deployment: id.into(),
            service: "shop".into(),
            stage: "test".into(),
            artifact: "a-1".into(),
            kind: DeploymentKind::Promote,
            status: DeploymentStatus::Queued,
            requested_by: Actor::user("alice"),
            approval: None,
            steps: vec![StepPlan {
                name: "deploy".into(),
                kind: StepKind::Deploy,
            }],
            rolls_back: None,
            version: String::new(),
            digest: String::new(),
        },
    }
}

pub(super) fn seqs(events: &[Event]) -> Vec<Seq> {
    events.iter().map(|e| e.seq).collect()
}

/// A fresh, empty store: appending, reading back, ranges and limits.
pub(super) async fn append_and_read_back(store: &dyn Store) {
    assert_eq!(store.last_seq().await.unwrap(), 0);
    assert!(store.events_after(0, 100).await.unwrap().is_empty());

    let first = store
        .append(vec![deployment_created("d-1"), step_finished(1)])
        .await
        .unwrap();
    assert_eq!(seqs(&first), vec![1, 2]);
    let second = store.append(vec![step_finished(2)]).await.unwrap();
    assert_eq!(seqs(&second), vec![3]);
    assert!(store.append(Vec::new()).await.unwrap().is_empty());
    assert_eq!(store.last_seq().await.unwrap(), 3);

    let all = store.events_after(0, 100).await.unwrap();
    let mut expected = first.clone();
    expected.extend(second);
    assert_eq!(all, expected, "events come back exactly as appended");
    assert_eq!(seqs(&store.events_after(1, 1).await.unwrap()), vec![2]);
    assert_eq!(seqs(&store.events_after(1, 100).await.unwrap()), vec![2, 3]);
    assert!(store.events_after(3, 100).await.unwrap().is_empty());
    assert!(store.events_after(0, 0).await.unwrap().is_empty());
    assert!(store.events_after(u64::MAX, 10).await.unwrap().is_empty());

    // A group commit's worth: more rows than one INSERT statement takes.
    let big: Vec<NewEvent> = (10..260).map(step_finished).collect();
    let appended = store.append(big).await.unwrap();
    assert_eq!(seqs(&appended), (4..254).collect::<Vec<Seq>>());
    let back = store.events_after(3, 1000).await.unwrap();
    assert_eq!(
        back, appended,
        "a large batch comes back exactly as appended"
    );
}

/// Two handles on one log (two processes, or two replicas) number appends
/// without gaps or duplicates.
pub(super) async fn concurrent_appends_are_gap_free(store: Arc<dyn Store>, other: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let s = if t % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for b in 0..10u64 {
                let size = 1 + ((t + b) % 3);
                let batch = (0..size).map(|i| step_finished(t * 1000 + b * 10 + i));
                let numbered = s.append(batch.collect()).await.unwrap();
                let ns = seqs(&numbered);
                assert!(
                    ns.windows(2).all(|w| w[1] == w[0] + 1),
                    "a batch is contiguous: {ns:?}"
                );
                got.extend(ns);
            }
            got
        }));
    }
    let mut all = BTreeSet::new();
    let mut count = 0;
    for task in tasks {
        for seq in task.await.unwrap() {
            count += 1;
            assert!(all.insert(seq), "seq {seq} handed out twice");
        }
    }
    let expected: BTreeSet<Seq> = (1..=count as Seq).collect();
    assert_eq!(all, expected);
    let stored = store.events_after(0, 10_000).await.unwrap();
    assert_eq!(seqs(&stored), expected.into_iter().collect::<Vec<_>>());
}

/// With a poison trigger installed (by the backend's test, from outside), a
/// batch containing a poisoned event stores nothing; `file` must be named in
/// the error. Returns after checking that nothing was stored.
pub(super) async fn a_poisoned_batch_stores_nothing(store: &dyn Store, place: &str) {
    let mut poison = step_finished(4);
    poison.reason = "poison".into();
    let err = store
        .append(vec![step_finished(2), step_finished(3), poison])
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("appending 3 event(s)"), "{msg}");
    assert!(msg.contains(place), "names the store: {msg}");
    assert!(msg.contains("poisoned event"), "gives the cause: {msg}");

    assert_eq!(store.last_seq().await.unwrap(), 1, "nothing of the batch");
    assert_eq!(store.events_after(0, 100).await.unwrap().len(), 1);
}

/// Single node or not, an append with a foreign epoch writes nothing and says
/// why; one with the lease's own epoch goes through.
pub(super) async fn fencing_refuses_a_stale_epoch(store: &dyn Store) {
    let grant = store
        .lease()
        .acquire("a", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a free lease is granted");
    assert!(grant.is_valid());
    let before = store.last_seq().await.unwrap();
    let ok = store
        .append_fenced(grant.epoch, vec![step_finished(1)])
        .await
        .unwrap();
    assert_eq!(seqs(&ok), vec![before + 1]);
    let err = store
        .append_fenced(grant.epoch + 1, vec![step_finished(2)])
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<Deposed>().is_some(), "{err:#}");
    assert!(
        format!("{err:#}").contains("nothing was appended"),
        "{err:#}"
    );
    assert_eq!(
        store.last_seq().await.unwrap(),
        before + 1,
        "nothing written"
    );
    let renewed = store.lease().renew(&grant).await.unwrap().expect("renewed");
    assert_eq!(renewed.epoch, grant.epoch);
    store.lease().release(&renewed).await.unwrap();
}

/// A tail on one handle wakes up for appends made through another.
pub(super) async fn a_tail_sees_appends(store: Arc<dyn Store>, other: Arc<dyn Store>) {
    let start = store.last_seq().await.unwrap();
    let mut tail = other.tail(start).await.unwrap();
    let appended = store
        .append(vec![step_finished(1), step_finished(2)])
        .await
        .unwrap();
    let want = appended.last().unwrap().seq;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = start;
    while got < want {
        let left = deadline.saturating_duration_since(Instant::now());
        got = tokio::time::timeout(left, tail.next())
            .await
            .expect("the tail woke up in time")
            .unwrap();
    }
    assert_eq!(got, want);
    // The next wake-up is for the next append, not the same one again.
    store.append(vec![step_finished(3)]).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), tail.next())
        .await
        .expect("woken again")
        .unwrap();
    assert_eq!(next, want + 1);
}

/// Heartbeats are listed per replica, the latest beat winning.
pub(super) async fn heartbeats_list_replicas(store: &dyn Store) {
    let mut beat = Heartbeat {
        replica: "r1".into(),
        address: "127.0.0.1:7474".into(),
        role: Role::Follower,
        applied_seq: 0,
    };
    store.lease().heartbeat(&beat).await.unwrap();
    beat.role = Role::Leader;
    beat.applied_seq = 7;
    store.lease().heartbeat(&beat).await.unwrap();
    let replicas = store.lease().replicas().await.unwrap();
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    assert_eq!(replicas[0].beat, beat);
    assert!(replicas[0].age < Duration::from_secs(60));
}

/// Snapshots: the newest of a format at or below a seq, replaced by seq,
/// listed oldest first, and pruned to the kept ones (other formats go too).
pub(super) async fn snapshots_are_kept_by_format_and_seq(store: &dyn Store) {
    use super::Snapshot;
    let snap = |format: &str, seq: Seq, body: &[u8]| Snapshot {
        seq,
        format: format.to_string(),
        taken_at: 1_700_000_000_000 + seq as i64,
        body: body.to_vec(),
    };
    assert_eq!(store.snapshot_at_most("v1", 100).await.unwrap(), None);
    for seq in [10, 20, 30] {
        store
            .put_snapshot(snap("v1", seq, format!("s{seq}").as_bytes()))
            .await
            .unwrap();
    }
    store.put_snapshot(snap("v0", 25, b"old")).await.unwrap();
    store.put_snapshot(snap("v1", 20, b"again")).await.unwrap();
    assert_eq!(store.snapshot_at_most("v1", 9).await.unwrap(), None);
    assert_eq!(
        store.snapshot_at_most("v1", 29).await.unwrap(),
        Some(snap("v1", 20, b"again")),
        "the newest at or below, replaced in place"
    );
    assert_eq!(
        store.snapshot_at_most("v1", 30).await.unwrap(),
        Some(snap("v1", 30, b"s30"))
    );
    assert_eq!(
        store.snapshot_at_most("v0", 1000).await.unwrap(),
        Some(snap("v0", 25, b"old"))
    );
    assert_eq!(store.snapshot_seqs("v1").await.unwrap(), vec![10, 20, 30]);
    let deleted = store.retain_snapshots("v1", vec![10, 30]).await.unwrap();
    assert_eq!(deleted, 2, "v1 at 20 and v0 at 25");
    assert_eq!(store.snapshot_seqs("v1").await.unwrap(), vec![10, 30]);
    assert_eq!(store.snapshot_seqs("v0").await.unwrap(), Vec::<Seq>::new());
    assert_eq!(
        store.snapshot_at_most("v1", 29).await.unwrap(),
        Some(snap("v1", 10, b"s10"))
    );
    // Families: pruning one leaves the other alone, and drops its own stale formats.
    for format in ["view/2/a", "view/1/a", "state/2/a"] {
        store.put_snapshot(snap(format, 40, b"x")).await.unwrap();
    }
    let deleted = store.retain_snapshots("view/2/a", vec![40]).await.unwrap();
    assert_eq!(deleted, 1, "view/1/a at 40 only");
    assert_eq!(
        store.snapshot_seqs("view/1/a").await.unwrap(),
        Vec::<Seq>::new()
    );
    assert_eq!(store.snapshot_seqs("view/2/a").await.unwrap(), vec![40]);
    assert_eq!(store.snapshot_seqs("state/2/a").await.unwrap(), vec![40]);
    assert_eq!(store.snapshot_seqs("v1").await.unwrap(), vec![10, 30]);
}

/// Events of each shape `EventKind::about` reads: a deployment's, a step's
/// (`run`), a build's, an artifact registered (an object) and quarantined
/// (an id), and one about nothing.
pub(super) fn events_with_about() -> Vec<NewEvent> {
    let artifact = crate::model::Artifact {
        id: "a-3".into(),
        service: "shop".into(),
        version: "1.2.3".into(),
        commit: None,
        subject: Some("a change".into()),
        digest: "ab".repeat(32),
        uri: "file:///x".into(),
        origin: crate::model::ArtifactOrigin::Registered,
        created_by: Actor::user("alice"),
        created_at: 1_700_000_000_000,
        committed_at: None,
        metadata: Default::default(),
    };
    let at = |kind| NewEvent {
        at: 1_700_000_000_000,
        actor: Actor::ferry(),
        reason: String::new(),
        kind,
    };
    vec![
        at(EventKind::ArtifactRegistered { artifact }),
        deployment_created("d-7"),
        step_finished(7),
        deployment_created("d-8"),
        at(EventKind::BuildFinished {
            build: "b-2".into(),
            status: crate::model::BuildStatus::Succeeded,
            message: "ok".into(),
        }),
        at(EventKind::ArtifactQuarantined {
            service: "shop".into(),
            artifact: "a-3".into(),
            incident: None,
        }),
        at(EventKind::HoldLifted {
            service: "shop".into(),
            stage: "prod".into(),
        }),
        at(EventKind::NoteAdded {
            deployment: "d-7".into(),
            author: Actor::user("bob"),
            text: "lesson".into(),
        }),
    ]
}

/// `events_with_about`, numbered from 1 as a store of the release before the
/// `about` column held them (for the migration tests).
pub(super) fn old_rows() -> Vec<Event> {
    events_with_about()
        .into_iter()
        .enumerate()
        .map(|(i, e)| e.numbered(i as u64 + 1))
        .collect()
}

/// `events_about` reads back exactly the events about one id, in order.
pub async fn events_about_reads_one_subject(store: &dyn Store) {
    let stored = store.append(events_with_about()).await.unwrap();
    let about = |id: &'static str| {
        stored
            .iter()
            .filter(|e| e.kind.about() == Some(id))
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(about("d-7").len(), 3, "created, its step, a note");
    assert_eq!(about("a-3").len(), 2, "registered and quarantined");
    for id in ["d-7", "d-8", "a-3", "b-2", "d-9"] {
        let read = store.events_about(id).await.unwrap();
        assert_eq!(seqs(&read), about(id), "{id}");
    }
    // The events come back whole.
    let d7 = store.events_about("d-7").await.unwrap();
    assert!(matches!(d7[0].kind, EventKind::DeploymentCreated { .. }));
    assert!(matches!(d7[2].kind, EventKind::NoteAdded { .. }));
}

/// What the migration filled in for each stored row matches
/// `EventKind::about` of the row's event (`rows`: seq and the column).
pub fn migrated_about_matches(stored: &[Event], rows: &[(i64, Option<String>)]) {
    assert_eq!(rows.len(), stored.len());
    for (e, (seq, about)) in stored.iter().zip(rows) {
        assert_eq!(e.seq as i64, *seq);
        assert_eq!(
            about.as_deref(),
            e.kind.about(),
            "event {seq} {}",
            e.kind.name()
        );
    }
}
