//! Three `lethe serve` instances on one PostgreSQL database evaluate a due monitor once: one
//! run per due time, one notification per subscriber; and a run whose instance is killed
//! (`kill -9`) in the middle of the evaluation is left due, then finished once by another
//! instance (`lethe-store/src/monitors/evaluate.rs`). The instances' clocks are fixed with
//! `LETHE_NOW`, past the monitors' due times. The test holds a lock on the hits table so
//! that the first instance's evaluation is surely half-way when it is killed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_imports)]
mod support;

use std::time::{Duration, Instant};

use sqlx::{Connection as _, PgConnection};
use support::{Run, TestDatabase, TestServer, add_user, lethe, lethe_command};

/// When the monitors are added; the first is due at 13:00, the second at 15:00.
const ADDED: &str = "2026-03-02T12:00:00Z";
/// The instances' clocks: past the first due time, then past the second.
const FIRST_PASS: &str = "2026-03-02T13:30:00Z";
const SECOND_PASS: &str = "2026-03-02T15:30:00Z";

fn lethe_at(database: &TestDatabase, now: &str, args: &[&str]) -> Run {
    let output = lethe_command(database)
        .env("LETHE_NOW", now)
        .args(args)
        .output()
        .expect("run the lethe binary");
    let run = Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
    run
}

async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn contact(database: &TestDatabase, last_name: &str) {
    let run = lethe(
        database,
        &[
            "record",
            "create",
            "contact",
            &format!("last_name={last_name}"),
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
}

/// The count of `sql`'s rows, as the test's own connection sees them.
async fn count(database: &TestDatabase, sql: &str) -> i64 {
    database.scalar(sql).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_evaluate_a_due_monitor_once_and_finish_a_killed_ones_run() {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("skipped: PostgreSQL is not available");
        return;
    };
    lethe(&database, &["migrate"]);
    add_user(&database, "ann", "user");
    let saved = lethe(
        &database,
        &[
            "selection",
            "save",
            "stale",
            "contact",
            "--filter",
            "last_name starts_with \"Stale\"",
        ],
    );
    assert_eq!(saved.status, 0, "{}", saved.stderr);
    contact(&database, "Stale-0");
    for (name, schedule) in [("first", "0 13 * * *"), ("second", "0 15 * * *")] {
        lethe_at(
            &database,
            ADDED,
            &[
                "monitor",
                "add",
                name,
                "--selection",
                "stale",
                "--schedule",
                schedule,
                "--subscriber",
                "ann",
            ],
        );
    }
    for index in 1..=3 {
        contact(&database, &format!("Stale-{index}"));
    }
    let runs_of = |monitor: &str, extra: &str| {
        format!(
            "SELECT COUNT(*) FROM lethe_monitor_run r JOIN lethe_monitor m ON m.id = r.monitor_id \
             WHERE m.name = '{monitor}' AND r.kind = 'scheduled'{extra}"
        )
    };
    let told = |monitor: &str| {
        format!(
            "SELECT COUNT(*) FROM lethe_notification n JOIN lethe_user u ON u.id = n.user_id \
             WHERE u.name = 'ann' AND n.kind = 'monitor_hit' AND n.message LIKE '%monitor {monitor} %'"
        )
    };

    // Three instances, all past the first due time: one evaluates it, once.
    let env = [("LETHE_NOW", FIRST_PASS)];
    let servers: Vec<TestServer> = (0..3)
        .map(|_| TestServer::start_with_env(&database, &env))
        .collect();
    wait_until(
        "the first monitor's run",
        Duration::from_secs(60),
        async || count(&database, &runs_of("first", " AND r.state = 'done'")).await == 1,
    )
    .await;
    // A few more passes of every instance's scheduler.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(count(&database, &runs_of("first", "")).await, 1);
    assert_eq!(count(&database, &told("first")).await, 1);
    assert_eq!(
        count(&database, "SELECT COUNT(*) FROM lethe_monitor_hit h JOIN lethe_monitor_run r ON r.id = h.run_id WHERE r.kind = 'scheduled'").await,
        3
    );
    assert_eq!(
        count(&database, &runs_of("second", "")).await,
        0,
        "not due yet"
    );
    drop(servers);

    // The second due time: an instance claims the run and is killed half-way through the
    // evaluation, which waits for the test's lock on the hits table.
    let mut locker = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE lethe_monitor_hit IN EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let env = [("LETHE_NOW", SECOND_PASS)];
    let mut doomed = TestServer::start_with_env(&database, &env);
    wait_until("the evaluation to wait for the lock", Duration::from_secs(60), async || {
        count(&database, &runs_of("second", " AND r.state = 'due'")).await == 1
            && count(
                &database,
                "SELECT COUNT(*) FROM pg_locks WHERE NOT granted AND relation = 'lethe_monitor_hit'::regclass",
            )
            .await
                > 0
    })
    .await;
    doomed.kill_now();
    let others: Vec<TestServer> = (0..2)
        .map(|_| TestServer::start_with_env(&database, &env))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count(&database, &runs_of("second", " AND r.state = 'due'")).await,
        1,
        "the run stays due while the killed instance's transaction holds it"
    );
    sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();
    wait_until(
        "another instance to finish the run",
        Duration::from_secs(60),
        async || count(&database, &runs_of("second", " AND r.state = 'done'")).await == 1,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(count(&database, &runs_of("second", "")).await, 1);
    assert_eq!(count(&database, &told("second")).await, 1, "told once");
    assert_eq!(
        count(&database, "SELECT COUNT(*) FROM lethe_monitor_hit h JOIN lethe_monitor_run r ON r.id = h.run_id JOIN lethe_monitor m ON m.id = r.monitor_id WHERE m.name = 'second' AND r.kind = 'scheduled'").await,
        3,
        "its hits recorded once"
    );
    assert_eq!(
        count(
            &database,
            "SELECT member_count FROM lethe_monitor WHERE name = 'second'"
        )
        .await,
        4
    );
    assert_eq!(
        count(&database, "SELECT COUNT(*) FROM lethe_monitor_member mm JOIN lethe_monitor m ON m.id = mm.monitor_id WHERE m.name = 'second'").await,
        4
    );
    drop(others);
}
