//! Three `lethe serve` instances on one PostgreSQL database run the retention policies on
//! their schedule together: each policy runs once for its due time however the instances
//! race (one scheduled run each, one trash job, one notification per admin), and a scheduled
//! run whose instance died after taking it (recorded as claimed, never finished) is finished
//! by one of the others, once (SPEC §4; `lethe-store/src/retention/`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_imports)]
mod support;

use std::process::Output;
use std::time::Duration;

use support::{TestDatabase, TestServer, add_user, lethe, lethe_command, wait_for_count};

/// When the policies are set up: the evening before their first due time (00:30 UTC).
const BEFORE: &str = "2026-03-01T23:00:00Z";
/// The instances' pinned clock: just after the due time.
const DUE_PASSED: &str = "2026-03-02T00:30:05Z";
const DORMANT: usize = 5;

/// `lethe ARGS` at the pinned instant `now`; it must succeed.
fn lethe_at(database: &TestDatabase, now: &str, args: &[&str]) {
    let Output { status, stderr, .. } = lethe_command(database)
        .env("LETHE_NOW", now)
        .args(args)
        .output()
        .expect("run the lethe binary");
    assert!(
        status.success(),
        "lethe {args:?}: {}",
        String::from_utf8_lossy(&stderr)
    );
}

fn args(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_run_each_due_policy_once_and_finish_a_dead_instances_run() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    add_user(&database, "ann", "admin");
    add_user(&database, "bob", "admin");
    for index in 0..DORMANT {
        let made = lethe(
            &database,
            &[
                "record",
                "create",
                "contact",
                &format!("last_name=Dormant {index}"),
            ],
        );
        assert_eq!(made.status, 0, "{}", made.stderr);
    }
    let policy = |name: &str, action: &str| {
        vec![
            "policy".to_owned(),
            "add".to_owned(),
            name.to_owned(),
            "--entity".to_owned(),
            "contact".to_owned(),
            "--filter".to_owned(),
            "last_name starts_with \"Dormant\"".to_owned(),
            "--action".to_owned(),
            action.to_owned(),
            "--schedule".to_owned(),
            "30 0 * * *".to_owned(),
            "--legal-basis".to_owned(),
            "leads without reply are kept one year".to_owned(),
            "--owner".to_owned(),
            "ann".to_owned(),
        ]
    };
    // A policy that trashes (approved by bob, enabled by ann), one that notifies, and one
    // whose due run an instance took and never finished (it died).
    lethe_at(&database, BEFORE, &args(&policy("dormant", "trash")));
    lethe_at(
        &database,
        BEFORE,
        &["policy", "approve", "dormant", "--as", "bob"],
    );
    lethe_at(
        &database,
        BEFORE,
        &["policy", "enable", "dormant", "--as", "ann"],
    );
    lethe_at(&database, BEFORE, &args(&policy("review", "notify")));
    lethe_at(&database, BEFORE, &["policy", "enable", "review"]);
    lethe_at(&database, BEFORE, &args(&policy("orphan", "notify")));
    database
        .execute(
            "INSERT INTO lethe_policy_run (policy_id, kind, due_at, members, counts, actor_name, at, claimed_at, finished) \
             SELECT id, 'scheduled', '2026-03-01T00:30:00Z', 0, '{}', 'ann', '2026-03-01T00:30:00Z', '2026-03-01T00:30:00Z', FALSE \
             FROM lethe_retention_policy WHERE name = 'orphan'",
        )
        .await;

    let instances: Vec<TestServer> = (0..3)
        .map(|_| TestServer::start_with_env(&database, &[("LETHE_NOW", DUE_PASSED)]))
        .collect();
    wait_for_count(
        &database,
        "every run is finished",
        "SELECT COUNT(*) FROM lethe_policy_run WHERE finished",
        3,
    )
    .await;
    wait_for_count(
        &database,
        "the dormant contacts are trashed",
        "SELECT COUNT(*) FROM contact WHERE trashed_at IS NOT NULL",
        DORMANT as i64,
    )
    .await;
    // Several more rounds of every instance's worker: nothing runs again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    drop(instances);

    for (sql, expected) in [
        ("SELECT COUNT(*) FROM lethe_policy_run", 3),
        (
            "SELECT COUNT(*) FROM lethe_policy_run r JOIN lethe_retention_policy p ON p.id = r.policy_id \
             WHERE p.name = 'dormant' AND r.kind = 'scheduled' AND r.due_at = '2026-03-02T00:30:00Z' AND r.members = 5",
            1,
        ),
        (
            "SELECT COUNT(*) FROM lethe_policy_run r JOIN lethe_retention_policy p ON p.id = r.policy_id \
             WHERE p.name = 'review' AND r.kind = 'scheduled' AND r.due_at = '2026-03-02T00:30:00Z'",
            1,
        ),
        (
            "SELECT COUNT(*) FROM lethe_policy_run r JOIN lethe_retention_policy p ON p.id = r.policy_id \
             WHERE p.name = 'orphan' AND r.finished AND r.members = 5 AND r.due_at = '2026-03-01T00:30:00Z'",
            1,
        ),
        ("SELECT COUNT(*) FROM lethe_job WHERE kind = 'trash'", 1),
        (
            "SELECT COUNT(*) FROM lethe_job WHERE kind = 'trash' AND state = 'done'",
            1,
        ),
        // The owner, ann, hears of each notifying run once: review's and orphan's.
        (
            "SELECT COUNT(*) FROM lethe_notification n JOIN lethe_user u ON u.id = n.user_id \
             WHERE u.name = 'ann' AND n.kind = 'policy_review'",
            2,
        ),
        (
            "SELECT COUNT(*) FROM lethe_history WHERE action = 'policy.scheduled'",
            3,
        ),
    ] {
        assert_eq!(database.scalar(sql).await, expected, "{sql}");
    }
}
