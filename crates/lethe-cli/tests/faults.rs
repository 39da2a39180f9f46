//! Crashes and faults in the middle of bulk jobs (SPEC §9, §10, §11): `kill -9` of a running
//! `lethe anonymize` or `lethe update` at random moments, PostgreSQL dropping the server's
//! connections while a trash job runs, the PostgreSQL server itself crashing and starting
//! again while a trash job runs, SQLite's disk filling up while a trash job runs, an
//! attachment file that cannot be removed while a purge runs, and an attachment folder on a
//! filesystem mounted read-only when a purge starts. After each fault, what committed is whole, what did not is untouched, the job
//! and the history count every change exactly once, and a resume finishes the job.
//!
//! The kill tests kill each job kind `LETHE_CRASH_KILLS` times per backend (5 by default, so
//! CI stays fast). The long version:
//!
//! ```text
//! LETHE_CRASH_KILLS=500 cargo nextest run -p lethe-cli --test faults
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_imports)]
mod support;

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use lethe_schema::{Anonymize, Entity, Schema, builtin};
use lethe_testkit::{PrivateServer, TestBackend};
use serde_json::{Value, json};
use support::{
    JOB_DEADLINE, Run, TestDatabase, TestServer, add_user, both_backends, crash_kills, demo,
    demo_into, lethe, lethe_command,
};

/// A reproducible pseudo-random number for `seed` (SplitMix64).
fn pseudo_random(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The JSON document of a `--json` run that must succeed.
fn succeeded(run: &Run) -> Value {
    assert_eq!(
        run.status, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run.json()
}

/// Runs `lethe ARGS` with extra environment and waits for it.
fn lethe_with_env(database: &TestDatabase, env: &[(&str, &str)], args: &[&str]) -> Run {
    let output = lethe_command(database)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run the lethe binary");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn show_job(database: &TestDatabase, id: i64) -> Value {
    succeeded(&lethe(
        database,
        &["job", "show", &id.to_string(), "--json"],
    ))["job"]
        .clone()
}

/// The newest job's id (0 when there is none).
async fn newest_job(database: &TestDatabase) -> i64 {
    database
        .scalar("SELECT COALESCE(MAX(id), 0) FROM lethe_job")
        .await
}

/// The newest history entry's id (0 when there is none).
async fn newest_history_entry(database: &TestDatabase) -> i64 {
    database
        .scalar("SELECT COALESCE(MAX(id), 0) FROM lethe_history")
        .await
}

/// Every history entry after `after`, oldest first, read through `lethe history`.
fn history_after(database: &TestDatabase, mut after: i64) -> Vec<Value> {
    let mut entries = Vec::new();
    loop {
        let page = succeeded(&lethe(
            database,
            &[
                "history",
                "--json",
                "--limit",
                "1000",
                "--after",
                &after.to_string(),
            ],
        ));
        let page = page["entries"].as_array().unwrap().clone();
        let Some(last) = page.last() else {
            return entries;
        };
        after = last["id"].as_i64().unwrap();
        let full = page.len() == 1000;
        entries.extend(page);
        if !full {
            return entries;
        }
    }
}

/// The entries of `action` about `job`.
fn entries_of<'e>(entries: &'e [Value], action: &str, job: i64) -> Vec<&'e Value> {
    entries
        .iter()
        .filter(|entry| entry["action"] == action && entry["details"]["job"] == job)
        .collect()
}

/// Non-zero counts of a JSON object of counts, by entity.
fn nonzero(counts: &Value) -> BTreeMap<String, i64> {
    counts
        .as_object()
        .map(|counts| {
            counts
                .iter()
                .map(|(entity, count)| (entity.clone(), count.as_i64().unwrap()))
                .filter(|(_, count)| *count > 0)
                .collect()
        })
        .unwrap_or_default()
}

/// What the `KIND.batch` history entries of a job add up to.
#[derive(Debug, Default, PartialEq)]
struct BatchEntries {
    members: i64,
    /// The last member id the entries cover (0 when there are none).
    up_to: i64,
    counts: BTreeMap<String, i64>,
    rewritten: BTreeMap<String, i64>,
}

/// Adds up a job's batch entries, checking that they cover its members once: each batch
/// starts exactly where the one before ended, the first at the start.
fn batch_entries(entries: &[Value], kind: &str, job: i64) -> BatchEntries {
    let mut total = BatchEntries::default();
    for entry in entries_of(entries, &format!("{kind}.batch"), job) {
        let details = &entry["details"];
        assert_eq!(
            details["member_ids"]["after"].as_i64().unwrap(),
            total.up_to,
            "job {job}: a batch starts where the one before ended: {entry}"
        );
        total.up_to = details["member_ids"]["up_to"].as_i64().unwrap();
        total.members += details["members"].as_i64().unwrap();
        for (target, source) in [
            (&mut total.counts, &details["counts"]),
            (&mut total.rewritten, &details["rewritten"]),
        ] {
            for (entity, count) in nonzero(source) {
                *target.entry(entity).or_default() += count;
            }
        }
    }
    total
}

/// Rows per entity table, for every entity of the schema.
async fn table_rows(database: &TestDatabase, schema: &Schema) -> BTreeMap<String, i64> {
    let mut rows = BTreeMap::new();
    for entity in schema.entities() {
        let count = database
            .scalar(&format!("SELECT COUNT(*) FROM {}", entity.name))
            .await;
        rows.insert(entity.name.to_string(), count);
    }
    rows
}

/// Rows per entity table that are in a deletion batch now (non-zero only).
async fn rows_in_batch(
    database: &TestDatabase,
    schema: &Schema,
    batch: i64,
) -> BTreeMap<String, i64> {
    let mut rows = BTreeMap::new();
    for entity in schema.entities() {
        let count = database
            .scalar(&format!(
                "SELECT COUNT(*) FROM {} WHERE trash_batch_id = {batch}",
                entity.name
            ))
            .await;
        if count > 0 {
            rows.insert(entity.name.to_string(), count);
        }
    }
    rows
}

fn verify_history(database: &TestDatabase) {
    let verified = succeeded(&lethe(database, &["history", "--verify", "--json"]));
    assert!(
        verified["verification"]["first_problem"].is_null(),
        "{verified}"
    );
}

// ---------------------------------------------------------------------------------------
// kill -9 of anonymise and bulk update
// ---------------------------------------------------------------------------------------

/// Runs `lethe ARGS` (a bulk command without `--json`, which prints what it will do just
/// before it makes its job). With `kill`, the process is killed with SIGKILL that long after
/// that first line, unless it has ended by then. Returns whether the kill hit the running
/// process, and how long the process ran after its first line.
fn run_job_command(
    database: &TestDatabase,
    args: &[String],
    kill: Option<Duration>,
) -> (bool, Duration) {
    let mut child = lethe_command(database)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lethe");
    let (first_line, announced) = std::sync::mpsc::channel();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut stdout, &mut line);
        let _ = first_line.send(());
        std::io::Read::read_to_string(&mut stdout, &mut line).ok();
        line
    });
    let poll = Duration::from_millis(1);
    while child.try_wait().unwrap().is_none() && announced.try_recv().is_err() {
        std::thread::sleep(poll);
    }
    let started = Instant::now();
    let kill_at = kill.unwrap_or(Duration::MAX);
    while started.elapsed() < kill_at && child.try_wait().unwrap().is_none() {
        std::thread::sleep(poll);
    }
    let killed = child.try_wait().unwrap().is_none();
    if killed {
        child.kill().expect("SIGKILL");
    }
    let ran = started.elapsed();
    let output = child.wait_with_output().unwrap();
    let stdout = reader.join().unwrap();
    assert!(
        killed || output.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (killed, ran)
}

/// The bulk jobs that rewrite members in place.
#[derive(Debug, Clone, Copy)]
enum Bulk {
    Anonymize,
    Update,
}

/// The table each round copies the members' rows into before its job runs.
const BEFORE: &str = "faults_before";
const BULK_BATCH_SIZE: &str = "10";

impl Bulk {
    fn kind(self) -> &'static str {
        match self {
            Bulk::Anonymize => "anonymize",
            Bulk::Update => "update",
        }
    }

    /// The command that acts on every contact with an id above `floor`.
    fn command(self, floor: i64, round: u64) -> Vec<String> {
        let filter = format!("id > {floor}");
        let mut args = vec![self.kind().to_owned(), "contact".to_owned(), filter];
        if let Bulk::Update = self {
            args.extend([
                "--set".to_owned(),
                "legal_basis=consent".to_owned(),
                "--set".to_owned(),
                format!("job_title=faults round {round}"),
            ]);
        }
        args.extend(["--yes", "--batch-size", BULK_BATCH_SIZE].map(str::to_owned));
        args
    }

    /// SQL conditions on a member's row now (`c`) and before (`b`) that hold for every column
    /// the job changes; every other column must be as it was.
    fn changes(self, entity: &Entity, round: u64) -> Vec<(String, String)> {
        let mut changes = vec![(
            builtin::UPDATED_AT.to_owned(),
            "c.updated_at <> b.updated_at".to_owned(),
        )];
        match self {
            // Every personal field, by the schema's strategy.
            Bulk::Anonymize => {
                for column in entity.personal_columns() {
                    let name = column.name.as_str();
                    let condition = match &column.anonymize {
                        Some(Anonymize::Fixed(text)) => {
                            format!("c.{name} = '{}'", text.replace('\'', "''"))
                        }
                        // `hash:` and 64 hex digits, and not the value it replaced.
                        Some(Anonymize::Hash) => format!(
                            "(b.{name} IS NULL AND c.{name} IS NULL) OR \
                             (c.{name} LIKE 'hash:%' AND LENGTH(c.{name}) = 69 AND c.{name} <> b.{name})"
                        ),
                        Some(Anonymize::Null) | None => format!("c.{name} IS NULL"),
                    };
                    changes.push((name.to_owned(), condition));
                }
            }
            Bulk::Update => {
                changes.push((
                    "legal_basis".to_owned(),
                    "c.legal_basis = 'consent'".to_owned(),
                ));
                changes.push((
                    "job_title".to_owned(),
                    format!("c.job_title = 'faults round {round}'"),
                ));
            }
        }
        changes
    }
}

/// A condition on a row now (`c`) and before (`b`): the `changed` columns meet their
/// condition and every other column, built-in or the entity's own, is as it was.
fn row_condition(entity: &Entity, changed: &[(String, String)]) -> String {
    builtin::ALL
        .iter()
        .copied()
        .chain(entity.columns.iter().map(|column| column.name.as_str()))
        .map(
            |name| match changed.iter().find(|(column, _)| column == name) {
                Some((_, condition)) => format!("({condition})"),
                None => format!("c.{name} IS NOT DISTINCT FROM b.{name}"),
            },
        )
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// How the round's members stand: changed whole by the job, untouched, and how many of the
/// changed ones are among the first `handled` members in id order.
#[derive(Debug, PartialEq)]
struct Members {
    changed: i64,
    untouched: i64,
    changed_among_first: i64,
}

async fn members_now(
    database: &TestDatabase,
    entity: &Entity,
    changes: &[(String, String)],
    handled: i64,
) -> Members {
    let joined = format!("FROM contact c JOIN {BEFORE} b ON b.id = c.id WHERE");
    let changed = row_condition(entity, changes);
    let untouched = row_condition(entity, &[]);
    Members {
        changed: database
            .scalar(&format!("SELECT COUNT(*) {joined} {changed}"))
            .await,
        untouched: database
            .scalar(&format!("SELECT COUNT(*) {joined} {untouched}"))
            .await,
        changed_among_first: database
            .scalar(&format!(
                "SELECT COUNT(*) {joined} {changed} AND c.id <= (SELECT COALESCE(MAX(id), 0) \
                 FROM (SELECT id FROM {BEFORE} ORDER BY id LIMIT {handled}) first_members)"
            ))
            .await,
    }
}

/// What one round saw.
struct Round {
    /// The kill hit a job that had started and not finished.
    mid_job: bool,
    /// How long the job ran before it ended or was killed.
    job_ran: Duration,
}

/// One round: fresh copies of the demo contacts become the members, a job runs over them and
/// is killed after `kill` (or runs to its end when `None`); then the members, the job and the
/// history are checked, the job is resumed, and checked again.
async fn bulk_round(
    database: &TestDatabase,
    bulk: Bulk,
    entity: &Entity,
    originals: i64,
    round: u64,
    kill: Option<Duration>,
) -> Round {
    // Fresh members every round, so "untouched" and "changed" are both well defined.
    let floor = database.scalar("SELECT MAX(id) FROM contact").await;
    let columns: Vec<&str> = [
        builtin::CREATED_AT,
        builtin::CREATED_BY,
        builtin::UPDATED_AT,
    ]
    .into_iter()
    .chain(entity.columns.iter().map(|column| column.name.as_str()))
    .collect();
    let columns = columns.join(", ");
    database
        .execute(&format!(
            "INSERT INTO contact ({columns}) SELECT {columns} FROM contact \
             WHERE id BETWEEN 1 AND {originals} AND trash_batch_id IS NULL ORDER BY id"
        ))
        .await;
    database
        .execute(&format!(
            "CREATE TABLE {BEFORE} AS SELECT * FROM contact WHERE id > {floor}"
        ))
        .await;
    let members = database
        .scalar(&format!("SELECT COUNT(*) FROM {BEFORE}"))
        .await;
    let changes = bulk.changes(entity, round);
    let last_job = newest_job(database).await;
    let mark = newest_history_entry(database).await;
    let kind = bulk.kind();

    let args = bulk.command(floor, round);
    let (killed, job_ran) = run_job_command(database, &args, kill);
    let context = format!("{kind} round {round} (killed after {kill:?}: {killed})");

    let job_id = newest_job(database).await;
    if job_id == last_job {
        // Killed before the job existed: nothing was changed.
        assert_eq!(
            members_now(database, entity, &changes, 0).await.untouched,
            members,
            "{context}"
        );
        database.execute(&format!("DROP TABLE {BEFORE}")).await;
        return Round {
            mid_job: false,
            job_ran,
        };
    }

    // As the kill left it: the first `done` members whole, the rest untouched, and the job
    // and the history count exactly those.
    let job = show_job(database, job_id);
    assert_eq!(job["kind"], kind, "{context}: {job}");
    assert_eq!(job["total"], members, "{context}: {job}");
    let done = job["done"].as_i64().unwrap();
    let mid_job = killed && done < members;
    assert_eq!(
        members_now(database, entity, &changes, done).await,
        Members {
            changed: done,
            untouched: members - done,
            changed_among_first: done,
        },
        "{context}: every member is changed whole or untouched, and exactly the first {done} are changed: {job}"
    );
    let rewritten = |job: &Value| job["rewritten"]["contact"].as_i64().unwrap_or(0);
    assert_eq!(rewritten(&job), done, "{context}: {job}");
    let history = batch_entries(&history_after(database, mark), kind, job_id);
    assert_eq!(history.members, done, "{context}: {history:?}");
    assert_eq!(
        history.rewritten.get("contact").copied().unwrap_or(0),
        done,
        "{context}: {history:?}"
    );

    // `lethe job resume` finishes it, and everything is counted once.
    succeeded(&lethe(database, &["job", "resume", "--json"]));
    let job = show_job(database, job_id);
    assert_eq!(job["state"], "done", "{context}: {job}");
    assert_eq!(job["done"], members, "{context}: {job}");
    assert_eq!(job["skipped"], 0, "{context}: {job}");
    assert_eq!(rewritten(&job), members, "{context}: {job}");
    assert_eq!(
        members_now(database, entity, &changes, members).await,
        Members {
            changed: members,
            untouched: 0,
            changed_among_first: members,
        },
        "{context}: after the resume"
    );
    let entries = history_after(database, mark);
    let history = batch_entries(&entries, kind, job_id);
    assert_eq!(
        (history.members, history.rewritten.get("contact").copied()),
        (members, Some(members)),
        "{context}: {history:?}"
    );
    assert_eq!(
        history.up_to,
        database
            .scalar(&format!("SELECT MAX(id) FROM {BEFORE}"))
            .await,
        "{context}: the batches reach the last member"
    );
    let executed = entries_of(&entries, &format!("{kind}.executed"), job_id);
    assert_eq!(executed.len(), 1, "{context}: {executed:?}");
    assert_eq!(
        executed[0]["details"]["rewritten"]["contact"], members,
        "{context}"
    );
    assert!(
        entries_of(&entries, &format!("{kind}.failed"), job_id).is_empty(),
        "{context}: a kill is not a failure"
    );
    database.execute(&format!("DROP TABLE {BEFORE}")).await;
    Round { mid_job, job_ran }
}

/// Kills `bulk` jobs at pseudo-random moments, `LETHE_CRASH_KILLS` times, after one
/// uninterrupted run that measures how long a job runs (the kills fall within that time).
async fn killed_bulk_jobs(database: TestDatabase, bulk: Bulk) {
    demo(&database, 200);
    let schema = Schema::default_crm();
    let contact = schema.entity("contact").unwrap();
    let originals = database.scalar("SELECT MAX(id) FROM contact").await;
    let measured = bulk_round(&database, bulk, contact, originals, 0, None).await;
    let window = u64::try_from(measured.job_ran.as_millis()).unwrap().max(20);
    let mut mid_job = 0;
    for round in 1..=crash_kills() {
        let delay = Duration::from_millis(pseudo_random(round) % window);
        let seen = bulk_round(&database, bulk, contact, originals, round, Some(delay)).await;
        mid_job += u64::from(seen.mid_job);
    }
    verify_history(&database);
    eprintln!(
        "{}: {mid_job} of {} kill(s) hit a running job (a job runs about {window} ms)",
        bulk.kind(),
        crash_kills()
    );
}

both_backends!(
    a_killed_anonymize_leaves_no_half_anonymised_record_and_resume_finishes_it_once,
    |database: TestDatabase| async move { killed_bulk_jobs(database, Bulk::Anonymize).await }
);

both_backends!(
    a_killed_update_leaves_no_half_updated_record_and_resume_finishes_it_once,
    |database: TestDatabase| async move { killed_bulk_jobs(database, Bulk::Update).await }
);

// ---------------------------------------------------------------------------------------
// PostgreSQL drops the server's connections while a trash job runs
// ---------------------------------------------------------------------------------------

/// Polls a job until it is over (`done` or `failed`) or has more than `past` members done. A
/// request that meets a dropped connection may answer 5xx; the next one gets a new one.
async fn job_after(server: &TestServer, token: &str, id: i64, past: u64) -> Value {
    let started = Instant::now();
    loop {
        let (status, job) = server.get(Some(token), &format!("/api/v1/jobs/{id}")).await;
        if status == 200 {
            let over = matches!(job["state"].as_str().unwrap(), "done" | "failed");
            if over || job["done"].as_u64().unwrap() > past {
                return job;
            }
        } else {
            assert!(status >= 500, "{status}: {job}");
        }
        assert!(
            started.elapsed() < JOB_DEADLINE,
            "job {id} neither progressed past {past} nor ended: {job}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Terminates every other session on the test database; returns how many there were.
async fn drop_connections(database: &TestDatabase) -> i64 {
    database
        .scalar(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) AS gone FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()) sessions WHERE gone",
        )
        .await
}

/// A `lethe job resume ID` that ended: it finished the job, or stopped with a clear message —
/// its connections were dropped too, or the server's worker took the job first.
fn check_resumer(mut resumer: Child) {
    let status = resumer.wait().expect("wait for lethe job resume");
    if status.success() {
        return;
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut resumer.stderr.take().unwrap(), &mut stderr).unwrap();
    // Log lines (a connection found dead) may come first; the error is the last line.
    let last_line = stderr.trim().lines().last().unwrap_or_default();
    let error: Value = serde_json::from_str(last_line)
        .unwrap_or_else(|_| panic!("lethe job resume failed without a JSON error: {stderr}"));
    let message = error["error"].as_str().unwrap();
    assert!(
        (message.contains("lethe job resume")
            && (message.contains("database error")
                || message.contains("the database cannot be reached")))
            || message.contains("another worker")
            || message.contains("being run by"),
        "{message}"
    );
}

/// A failed job: its error says what happened; `lethe job resume ID` is started for it in the
/// background, and this returns once the job is no longer failed.
async fn resume_failed(
    database: &TestDatabase,
    server: &TestServer,
    token: &str,
    job: &Value,
    failures: &mut Vec<String>,
    resumer: &mut Option<Child>,
) {
    let id = job["id"].as_i64().unwrap();
    let error = job["error"].as_str().unwrap_or_default().to_owned();
    // "the database cannot be reached or used right now (it may be restarting): try again
    // when it is back: error returned from database: terminating connection due to
    // administrator command", or the like when the drop met a connection between statements.
    let reasons = [
        "the database cannot be reached or used right now",
        "database error: ",
    ];
    assert!(
        reasons.iter().any(|reason| error.starts_with(reason)) && error.len() > 60,
        "the failed job says what happened: {job}"
    );
    failures.push(error);
    if let Some(previous) = resumer.take() {
        check_resumer(previous);
    }
    let mut child = lethe_command(database)
        .args(["job", "resume", &id.to_string(), "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lethe job resume");
    let started = Instant::now();
    loop {
        let (status, now) = server.get(Some(token), &format!("/api/v1/jobs/{id}")).await;
        if status == 200 && now["state"] != "failed" {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            check_resumer(child);
            panic!("lethe job resume ended and job {id} is still failed: {now}");
        }
        assert!(started.elapsed() < JOB_DEADLINE, "{now}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    *resumer = Some(child);
}

/// A served demo of 2,000 contacts with an admin, and a trash job over all of them in
/// batches of 20 started over HTTP: (server, admin token, job id, deletion batch).
async fn served_trash_job(database: &TestDatabase, reason: &str) -> (TestServer, String, i64, i64) {
    demo(database, 2_000);
    let (_, admin) = add_user(database, "dpo", "admin");
    let server = TestServer::start(database);
    let snapshot = server
        .snapshot(
            &admin,
            json!({"entity": "contact", "filter": "", "all_matching": true, "all": true}),
        )
        .await;
    let started = server
        .accepted(
            &admin,
            "/api/v1/trash",
            &json!({"snapshot_id": snapshot, "batch_size": 20, "reason": reason}),
        )
        .await;
    let id = started["id"].as_i64().unwrap();
    let batch = started["batch_id"].as_i64().unwrap();
    (server, admin, id, batch)
}

/// A trash job that ended after faults is whole: done, what it counts is what its deletion
/// batch holds, every member was acted on, blocked or skipped once, nothing dangles, no
/// active record sits under a trashed parent; the history has every batch once, one
/// `executed`, an intact chain and — when `failures` is given — one `failed` entry per
/// failure, with its error.
async fn assert_trash_job_whole(
    database: &TestDatabase,
    schema: &Schema,
    job: &Value,
    batch: i64,
    failures: Option<&[String]>,
) {
    let id = job["id"].as_i64().unwrap();
    assert_eq!(job["done"], job["total"], "{job}");
    assert!(job["error"].is_null(), "{job}");
    let counts = nonzero(&job["counts"]);
    assert_eq!(counts, rows_in_batch(database, schema, batch).await);
    assert_eq!(
        counts["contact"] + job["blocked"].as_i64().unwrap() + job["skipped"].as_i64().unwrap(),
        job["total"].as_i64().unwrap(),
        "{job}"
    );
    database.assert_no_dangling_references(schema).await;
    database
        .assert_no_active_child_under_trashed_parent(schema)
        .await;
    let entries = history_after(database, 0);
    if let Some(failures) = failures {
        let failed: Vec<String> = entries_of(&entries, "trash.failed", id)
            .iter()
            .map(|entry| entry["details"]["error"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(failed, failures, "one failure entry per failure");
    }
    let history = batch_entries(&entries, "trash", id);
    assert_eq!(history.members, job["total"].as_i64().unwrap());
    assert_eq!(history.counts, counts);
    assert_eq!(entries_of(&entries, "trash.executed", id).len(), 1);
    verify_history(database);
}

/// Waits for job `id` to end; each time it has failed, `lethe job resume ID` is started for
/// it (see [`resume_failed`]). Returns the done job once the last resumer has ended.
async fn run_to_the_end(
    database: &TestDatabase,
    server: &TestServer,
    token: &str,
    id: i64,
    failures: &mut Vec<String>,
    mut resumer: Option<Child>,
) -> Value {
    let job = loop {
        let job = job_after(server, token, id, u64::MAX).await;
        if job["state"] == "done" {
            break job;
        }
        resume_failed(database, server, token, &job, failures, &mut resumer).await;
    };
    if let Some(resumer) = resumer.take() {
        check_resumer(resumer);
    }
    job
}

/// How many times the test drops the connections while the job runs.
const DROPS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_postgres_connections_fail_a_trash_job_clearly_and_resume_finishes_it() {
    let Some(database) = TestDatabase::new(TestBackend::Postgres).await else {
        return;
    };
    let schema = Schema::default_crm();
    let (server, admin, id, batch) = served_trash_job(&database, "connection drops").await;

    // Drop every connection to the database while a batch runs, a few times; a failed job
    // is resumed by `lethe job resume ID` at once, whose connections the next drop cuts.
    let mut failures = Vec::new();
    let mut resumer = None;
    let mut drops = 0;
    let mut past = 0;
    while drops < DROPS {
        let job = job_after(&server, &admin, id, past).await;
        match job["state"].as_str().unwrap() {
            "done" => break,
            "failed" => {
                resume_failed(
                    &database,
                    &server,
                    &admin,
                    &job,
                    &mut failures,
                    &mut resumer,
                )
                .await;
                past = job["done"].as_u64().unwrap();
                continue;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(pseudo_random(drops) % 40)).await;
        let dropped = drop_connections(&database).await;
        drops += 1;
        let job = job_after(&server, &admin, id, job["done"].as_u64().unwrap()).await;
        eprintln!(
            "drop {drops}: {dropped} connection(s) terminated; job {} at {}",
            job["state"], job["done"]
        );
        past = job["done"].as_u64().unwrap();
        if job["state"] == "failed" {
            resume_failed(
                &database,
                &server,
                &admin,
                &job,
                &mut failures,
                &mut resumer,
            )
            .await;
        }
    }
    // Then it runs to its end; a job still failing is resumed again.
    let job = run_to_the_end(&database, &server, &admin, id, &mut failures, resumer).await;
    eprintln!(
        "{drops} drop(s), {} failure(s): {failures:?}",
        failures.len()
    );

    assert_trash_job_whole(&database, &schema, &job, batch, Some(&failures)).await;
}

// ---------------------------------------------------------------------------------------
// The PostgreSQL server crashes and starts again while a trash job runs
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_server_crash_mid_job_loses_nothing_and_the_job_finishes_after_the_restart() {
    // A server of this test's own: crashing the shared one would fail every other test.
    let Some(postgres) = PrivateServer::start() else {
        return;
    };
    let Some(database) = TestDatabase::postgres_on(&postgres.url()).await else {
        return;
    };
    let schema = Schema::default_crm();
    let (server, admin, id, batch) = served_trash_job(&database, "server crash").await;
    let mark = job_after(&server, &admin, id, 100).await;
    assert_eq!(mark["state"], "running", "the job is still running: {mark}");

    // The crash: every connection cut mid-batch, no clean shutdown.
    postgres.crash();
    let down = Instant::now();
    // While the database is away the API says so (503, try again), and the
    // server itself stays up.
    let asked = Instant::now();
    let (status, body) = server
        .get(Some(&admin), &format!("/api/v1/jobs/{id}"))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "database_unavailable", "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|error| error.contains("try again")),
        "{body}"
    );
    eprintln!("answered 503 after {:?}", asked.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    postgres.start_again();
    eprintln!("the database was away for {:?}", down.elapsed());

    // The job finishes: taken up again by the server, or — when its failure could be
    // recorded — resumed by `lethe job resume ID`.
    let mut failures = Vec::new();
    let job = run_to_the_end(&database, &server, &admin, id, &mut failures, None).await;
    eprintln!("{} recorded failure(s): {failures:?}", failures.len());

    assert_trash_job_whole(&database, &schema, &job, batch, Some(&failures)).await;
}

// ---------------------------------------------------------------------------------------
// The disk under a SQLite database fills up while a trash job runs
// ---------------------------------------------------------------------------------------

/// A small filesystem of one test's own (tmpfs) to fill up; unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts `mib` MiB of tmpfs. Mounting needs root (as in CI): elsewhere the test is
    /// skipped with a message; as root, a failure to mount fails the test.
    fn mount(mib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
        match mounted {
            Ok(out) if out.status.success() => Some(SmallDisk { dir }),
            Ok(out) if root => panic!(
                "mounting a tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            _ => {
                eprintln!("skipping this test: this user may not mount a filesystem");
                None
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Mounts the filesystem again, read-only or read-write (`ro` or `rw`).
    fn remount(&self, mode: &str) {
        let out = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Bytes still free.
    fn available(&self) -> u64 {
        let out = std::process::Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(self.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .unwrap()
    }

    /// Writes a filler file until only about `leave` bytes are free; returns its path.
    fn fill(&self, leave: u64) -> std::path::PathBuf {
        let filler = self.path().join("filler");
        let size = self.available().saturating_sub(leave);
        let chunk = vec![0x5a_u8; 1 << 20];
        let mut file = std::fs::File::create(&filler).unwrap();
        let mut written = 0;
        while written < size {
            let part = usize::try_from((size - written).min(1 << 20)).unwrap();
            std::io::Write::write_all(&mut file, &chunk[..part]).unwrap();
            written += part as u64;
        }
        file.sync_all().unwrap();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_a_sqlite_trash_job_clearly_and_a_resume_after_freeing_space_finishes_it()
{
    let Some(disk) = SmallDisk::mount(64) else {
        return;
    };
    let database = TestDatabase::sqlite_at(disk.path().join("lethe.db"));
    let schema = Schema::default_crm();
    demo(&database, 2_000);
    // The write-ahead log emptied, and almost no room left for it to grow into.
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)").await;
    let rows_before = table_rows(&database, &schema).await;
    let filler = disk.fill(512 * 1024);

    let trash = lethe(
        &database,
        &[
            "trash",
            "contact",
            "all",
            "--reason",
            "full disk",
            "--batch-size",
            "10",
            "--yes",
            "--json",
        ],
    );
    assert_eq!(trash.status, 1, "a fault, not bad input: {}", trash.stderr);
    // When the disk filled up where the job's failure could not be recorded either, that is
    // logged before the error.
    let message = trash.error_json_after_logs()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = newest_job(&database).await;
    for expected in [
        "the disk holding the database is full: free space",
        &format!("lethe job resume {id}"),
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    // Whole batches only: what the job counts is what its deletion batch holds (the failure
    // itself may not have found room to be recorded).
    let job = show_job(&database, id);
    let batch = job["batch_id"].as_i64().unwrap();
    assert!(
        job["done"].as_u64().unwrap() < job["total"].as_u64().unwrap(),
        "{job}"
    );
    assert_eq!(
        nonzero(&job["counts"]),
        rows_in_batch(&database, &schema, batch).await,
        "{job}"
    );
    assert_eq!(table_rows(&database, &schema).await, rows_before);
    database
        .assert_no_active_child_under_trashed_parent(&schema)
        .await;
    eprintln!(
        "failed after {} of {} members: {message}",
        job["done"], job["total"]
    );

    // Room made, a resume finishes the job.
    std::fs::remove_file(&filler).unwrap();
    let resumed = lethe(&database, &["job", "resume", &id.to_string(), "--json"]);
    assert_eq!(succeeded(&resumed)["finished"], 1);
    let job = show_job(&database, id);
    assert_eq!(job["state"], "done", "{job}");
    // Whether the failure found room to be recorded depends on where the disk filled up.
    assert_trash_job_whole(&database, &schema, &job, batch, None).await;
}

// ---------------------------------------------------------------------------------------
// An attachment file that cannot be removed during a purge
// ---------------------------------------------------------------------------------------

/// Contacts with attachment files (their own or their tickets') that nothing keeps from
/// being purged: no `restrict` child, no task that is not removed or verified.
const PURGEABLE_WITH_FILES: &str = "(exists attachment or exists ticket(exists attachment)) \
     and not exists deal and not exists invoice and not exists project and not exists time_entry \
     and none activity(kind = \"task\" and status in [\"open\", \"done\"])";
const PURGE_BATCH_SIZE: usize = 3;

/// The ids of the records of `entity` in `scope`, with their JSON.
fn records(database: &TestDatabase, entity: &str, scope: &str) -> BTreeMap<i64, Value> {
    let page = succeeded(&lethe(
        database,
        &[
            "select", entity, "--scope", scope, "--json", "--limit", "1000",
        ],
    ));
    assert!(page["next_cursor"].is_null(), "more than one page");
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| (record["id"].as_i64().unwrap(), record.clone()))
        .collect()
}

/// The attachments of the trashed contacts: id → (storage key, the contact it goes with).
fn trashed_attachments(database: &TestDatabase) -> BTreeMap<i64, (String, i64)> {
    let tickets = records(database, "ticket", "trashed");
    records(database, "attachment", "trashed")
        .into_iter()
        .map(|(id, attachment)| {
            let owner = attachment["owner_id"].as_i64().unwrap();
            let contact = match attachment["owner_entity"].as_str().unwrap() {
                "contact" => owner,
                "ticket" => tickets[&owner]["contact_id"].as_i64().unwrap(),
                other => panic!("an attachment of a trashed {other}"),
            };
            let key = attachment["storage_key"].as_str().unwrap().to_owned();
            (id, (key, contact))
        })
        .collect()
}

/// The environment of a purge run in these tests: the attachment folder given, and
/// PostgreSQL's table rewrite skipped (it is not what they are about, and it waits for other
/// sessions' snapshots).
fn purge_env(files: &std::path::Path) -> [(&'static str, &str); 2] {
    [
        ("LETHE_FILES_DIR", files.to_str().unwrap()),
        ("LETHE_PG_REWRITE", "0"),
    ]
}

/// A file bound onto itself (`mount --bind FILE FILE`): while the mount stands, removing the
/// file fails with EBUSY, also for root. Dropped, the mount goes.
struct BoundFile(std::path::PathBuf);

impl BoundFile {
    /// `None` when the mount cannot be made (not root, no `mount`).
    fn bind(path: &std::path::Path) -> Option<BoundFile> {
        let status = std::process::Command::new("mount")
            .arg("--bind")
            .arg(path)
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| BoundFile(path.to_path_buf()))
    }
}

impl Drop for BoundFile {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// `lethe purge request` of a deletion batch with no grace (an urgent erasure), in small
/// batches, with [`purge_env`], that a fault stops: exit code 1 (not bad input); returns the
/// error message and the purge job.
async fn failing_urgent_purge(
    database: &TestDatabase,
    files: &std::path::Path,
    batch: i64,
) -> (String, i64) {
    let purge = lethe_with_env(
        database,
        &purge_env(files),
        &[
            "purge",
            "request",
            "--batch",
            &batch.to_string(),
            "--grace",
            "0",
            "--yes",
            "--batch-size",
            &PURGE_BATCH_SIZE.to_string(),
            "--json",
        ],
    );
    assert_eq!(purge.status, 1, "a fault, not bad input: {}", purge.stderr);
    let message = purge.error_json()["error"].as_str().unwrap().to_owned();
    (message, newest_job(database).await)
}

both_backends!(
    an_attachment_file_that_cannot_be_removed_fails_the_purge_clearly_and_a_retry_finishes_it,
    |database: TestDatabase| async move {
        let schema = Schema::default_crm();
        let files = demo(&database, 2_000);
        let trashed = succeeded(&lethe(
            &database,
            &["trash", "contact", PURGEABLE_WITH_FILES, "--yes", "--json"],
        ));
        let batch = trashed["job"]["batch_id"].as_i64().unwrap();
        assert_eq!(trashed["job"]["blocked"], 0, "{trashed}");
        let members: Vec<i64> = records(&database, "contact", "trashed")
            .into_keys()
            .collect();
        assert!(members.len() > 2 * PURGE_BATCH_SIZE, "{members:?}");
        let attachments = trashed_attachments(&database);
        for (key, _) in attachments.values() {
            assert!(files.join(key).is_file(), "{key} was written by the demo");
        }

        // The fault: one file of the purge's second batch is a mount point now (the file bound
        // onto itself), which no removal takes away, even for root (EBUSY).
        let second_batch = &members[PURGE_BATCH_SIZE..2 * PURGE_BATCH_SIZE];
        let in_second: Vec<&String> = attachments
            .values()
            .filter(|(_, contact)| second_batch.contains(contact))
            .map(|(key, _)| key)
            .collect();
        assert!(
            in_second.len() >= 2,
            "the demo data gives the second batch several files: {attachments:?}"
        );
        let bad = in_second[in_second.len() / 2].clone();
        let bad_path = files.join(&bad);
        let Some(bound) = BoundFile::bind(&bad_path) else {
            eprintln!("skipping: binding a file onto itself needs root (mount --bind)");
            return;
        };

        let files_env = purge_env(&files);
        let rows_before = table_rows(&database, &schema).await;
        let mark = newest_history_entry(&database).await;
        let (message, job_id) = failing_urgent_purge(&database, &files, batch).await;
        for expected in [
            "cannot remove the attachment file".to_owned(),
            bad.clone(),
            format!("lethe job resume {job_id}"),
        ] {
            assert!(message.contains(&expected), "{expected:?} in {message}");
        }
        let job = show_job(&database, job_id);
        assert_eq!(job["kind"], "purge", "{job}");
        assert_eq!(job["state"], "failed", "{job}");
        let error = job["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains(&bad) && error.contains("busy"),
            "the job says which file and why: {error}"
        );
        let tally = format!(
            "1 file(s) could not be removed, {} were removed, 0 were already missing",
            in_second.len() - 1
        );
        assert!(error.contains(&tally), "{tally:?} in {error}");

        // Whole batches: the first two are erased with everything they reach, the rest is
        // still in the trash; the rows gone are the rows the job counts.
        let erased = 2 * PURGE_BATCH_SIZE;
        assert_eq!(job["done"], erased, "{job}");
        let check_rows = |job: &Value, rows_after: &BTreeMap<String, i64>| {
            let removed: BTreeMap<String, i64> = rows_before
                .iter()
                .map(|(entity, before)| (entity.clone(), before - rows_after[entity]))
                .filter(|(_, removed)| *removed > 0)
                .collect();
            assert_eq!(removed, nonzero(&job["counts"]), "{job}");
        };
        check_rows(&job, &table_rows(&database, &schema).await);
        let still_trashed: Vec<i64> = records(&database, "contact", "trashed")
            .into_keys()
            .collect();
        assert_eq!(still_trashed, members[erased..]);
        database.assert_no_dangling_references(&schema).await;
        database
            .assert_no_active_child_under_trashed_parent(&schema)
            .await;

        // Files follow their records: an erased record's file is gone, except the one that
        // could not be removed; a record still in the trash keeps its file.
        let files_follow_records = |erased_up_to: usize, fault_fixed: bool| {
            for (key, contact) in attachments.values() {
                let path = files.join(key);
                if *key == bad && !fault_fixed {
                    assert!(path.is_file(), "{key} is left as it was");
                } else if members[..erased_up_to].contains(contact) {
                    assert!(!path.exists(), "{key} of erased contact {contact} is gone");
                } else {
                    assert!(path.is_file(), "{key} of trashed contact {contact} is kept");
                }
            }
        };
        files_follow_records(erased, false);

        // The history says so: the batches that committed, and the failure with its error.
        let entries = history_after(&database, mark);
        let failed = entries_of(&entries, "purge.failed", job_id);
        assert_eq!(failed.len(), 1, "{entries:?}");
        assert_eq!(failed[0]["details"]["error"], error.as_str());
        let history = batch_entries(&entries, "purge", job_id);
        assert_eq!(history.members, i64::try_from(erased).unwrap());
        assert_eq!(history.counts, nonzero(&job["counts"]));
        assert!(entries_of(&entries, "purge.executed", job_id).is_empty());

        // A retry while the files folder itself is wrong (a regular file) fails saying so and
        // changes nothing; the file left to remove is not forgotten.
        let not_a_folder = database.scratch_dir().join("not-a-folder");
        std::fs::write(&not_a_folder, "a regular file").unwrap();
        let rows_at_failure = table_rows(&database, &schema).await;
        let retry = lethe_with_env(
            &database,
            &[
                ("LETHE_FILES_DIR", not_a_folder.to_str().unwrap()),
                ("LETHE_PG_REWRITE", "0"),
            ],
            &["job", "resume", &job_id.to_string(), "--json"],
        );
        assert_eq!(retry.status, 1, "{}", retry.stderr);
        let message = retry.error_json()["error"].as_str().unwrap().to_owned();
        for expected in [
            "does not exist or is not a folder",
            not_a_folder.to_str().unwrap(),
            "--files-dir",
        ] {
            assert!(message.contains(expected), "{expected:?} in {message}");
        }
        let job = show_job(&database, job_id);
        assert_eq!(job["state"], "failed", "{job}");
        assert_eq!(job["done"], erased, "{job}");
        assert_eq!(table_rows(&database, &schema).await, rows_at_failure);
        files_follow_records(erased, false);

        // The fault fixed (the mount gone), a retry finishes the purge: every file removed
        // once, the one that could not be removed too.
        drop(bound);
        let resumed = lethe_with_env(
            &database,
            &files_env,
            &["job", "resume", &job_id.to_string(), "--json"],
        );
        assert_eq!(succeeded(&resumed)["finished"], 1);
        let job = show_job(&database, job_id);
        assert_eq!(job["state"], "done", "{job}");
        assert_eq!(job["done"], members.len(), "{job}");
        assert!(job["error"].is_null(), "{job}");
        check_rows(&job, &table_rows(&database, &schema).await);
        files_follow_records(members.len(), true);
        let removed_after_the_fault = attachments
            .values()
            .filter(|(_, contact)| members[erased..].contains(contact))
            .count();
        let files = &job["receipt"]["files"];
        assert_eq!(files["removed"], removed_after_the_fault + 1, "{job}");
        assert_eq!(files["already_missing"], 0, "{job}");
        assert_eq!(files["refused"], 0, "{job}");
        assert_eq!(job["receipt"]["resumed_after_a_stop"], true, "{job}");
        assert!(records(&database, "contact", "trashed").is_empty());
        assert!(records(&database, "attachment", "trashed").is_empty());
        database.assert_no_dangling_references(&schema).await;

        let entries = history_after(&database, mark);
        assert_eq!(entries_of(&entries, "purge.failed", job_id).len(), 2);
        let history = batch_entries(&entries, "purge", job_id);
        assert_eq!(history.members, i64::try_from(members.len()).unwrap());
        assert_eq!(history.counts, nonzero(&job["counts"]));
        let executed = entries_of(&entries, "purge.executed", job_id);
        assert_eq!(executed.len(), 1);
        assert_eq!(
            executed[0]["details"]["receipt"]["files"],
            job["receipt"]["files"]
        );
        verify_history(&database);
    }
);

// ---------------------------------------------------------------------------------------
// The attachment folder is on a filesystem mounted read-only when a purge starts
// ---------------------------------------------------------------------------------------

both_backends!(
    a_read_only_attachment_folder_stops_a_purge_before_it_erases_anything_and_a_resume_finishes_it,
    |database: TestDatabase| async move {
        let Some(disk) = SmallDisk::mount(64) else {
            return;
        };
        let schema = Schema::default_crm();
        let files = disk.path().join("files");
        demo_into(&database, 1_000, &files);
        let (_, dpo) = add_user(&database, "dpo", "admin");
        let (_, clerk) = add_user(&database, "clerk", "user");
        let trashed = succeeded(&lethe(
            &database,
            &["trash", "contact", PURGEABLE_WITH_FILES, "--yes", "--json"],
        ));
        let batch = trashed["job"]["batch_id"].as_i64().unwrap();
        let members = records(&database, "contact", "trashed");
        let attachments = trashed_attachments(&database);
        assert!(attachments.len() > 2, "{attachments:?}");
        let files_present = || {
            attachments
                .values()
                .filter(|(key, _)| files.join(key).is_file())
                .count()
        };
        assert_eq!(files_present(), attachments.len());

        // The fault: the folder's filesystem goes read-only before the purge starts.
        disk.remount("ro");
        let files_env = purge_env(&files);
        let rows_before = table_rows(&database, &schema).await;
        let mark = newest_history_entry(&database).await;
        let (message, job_id) = failing_urgent_purge(&database, &files, batch).await;
        for expected in [
            files.to_str().unwrap(),
            "read-only filesystem",
            "before erasing anything",
            &format!("lethe job resume {job_id}"),
        ] {
            assert!(message.contains(expected), "{expected:?} in {message}");
        }

        // Nothing erased: every row and every file is where it was, the job failed at zero,
        // and the history records the failure with its reason.
        let job = show_job(&database, job_id);
        assert_eq!(job["kind"], "purge", "{job}");
        assert_eq!(job["state"], "failed", "{job}");
        assert_eq!(job["done"], 0, "{job}");
        assert!(
            job["error"]
                .as_str()
                .unwrap()
                .contains("read-only filesystem"),
            "{job}"
        );
        assert_eq!(table_rows(&database, &schema).await, rows_before);
        assert_eq!(
            records(&database, "contact", "trashed").len(),
            members.len()
        );
        assert_eq!(files_present(), attachments.len());
        let entries = history_after(&database, mark);
        let failed = entries_of(&entries, "purge.failed", job_id);
        assert_eq!(failed.len(), 1, "{entries:?}");
        assert_eq!(failed[0]["details"]["error"], job["error"]);
        assert!(batch_entries(&entries, "purge", job_id).members == 0);
        // Every admin is told, with the reason.
        let feed = succeeded(&lethe(
            &database,
            &["--as", "dpo", "notifications", "--json"],
        ));
        let failed: Vec<&Value> = feed["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|notice| notice["kind"] == "purge_failed")
            .collect();
        assert_eq!(failed.len(), 1, "{feed}");
        assert_eq!(failed[0]["job_id"], job_id, "{feed}");
        let notice = failed[0]["message"].as_str().unwrap();
        for expected in [
            format!("Purge of deletion batch {batch} failed (job {job_id}) after 0 of"),
            "read-only filesystem".to_owned(),
        ] {
            assert!(notice.contains(&expected), "{expected:?} in {notice}");
        }

        // Writable again, an admin resumes the purge over the API: it erases the batch and
        // its files. A plain user may not resume a purge.
        disk.remount("rw");
        let server = TestServer::start_with_env(&database, &files_env);
        let resume = format!("/api/v1/jobs/{job_id}/resume");
        let (status, refused) = server.post(Some(&clerk), &resume, &json!({})).await;
        assert_eq!(status, 403, "{refused}");
        assert_eq!(show_job(&database, job_id)["state"], "failed");
        let queued = server.accepted(&dpo, &resume, &json!({})).await;
        assert_ne!(queued["state"], "failed", "{queued}");
        let job = job_after(&server, &dpo, job_id, u64::MAX).await;
        assert_eq!(job["state"], "done", "{job}");
        let (status, again) = server.post(Some(&dpo), &resume, &json!({})).await;
        assert_eq!(status, 409, "{again}");
        assert!(
            again["error"].as_str().unwrap().contains("it has finished"),
            "{again}"
        );
        drop(server);
        let job = show_job(&database, job_id);
        assert_eq!(job["state"], "done", "{job}");
        assert_eq!(job["done"], members.len(), "{job}");
        assert_eq!(files_present(), 0);
        let files = &job["receipt"]["files"];
        assert_eq!(files["removed"], attachments.len(), "{job}");
        assert_eq!(files["already_missing"], 0, "{job}");
        assert_eq!(files["not_removed"], json!([]), "{job}");
        assert!(records(&database, "contact", "trashed").is_empty());
        database.assert_no_dangling_references(&schema).await;
        let entries = history_after(&database, mark);
        let history = batch_entries(&entries, "purge", job_id);
        assert_eq!(history.members, i64::try_from(members.len()).unwrap());
        assert_eq!(entries_of(&entries, "purge.executed", job_id).len(), 1);
        let resumed = entries_of(&entries, "purge.resumed", job_id);
        assert_eq!(resumed.len(), 1, "{entries:?}");
        assert_eq!(resumed[0]["actor_name"], "dpo", "{entries:?}");
        verify_history(&database);
    }
);
