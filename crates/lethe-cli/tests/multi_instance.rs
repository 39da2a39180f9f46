//! Several `lethe serve` instances on one PostgreSQL database: they share the job work, a
//! killed instance's jobs are taken over, no batch is applied twice, and the schedulers'
//! auto-purges are requested and run exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_imports)]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use lethe_schema::Schema;
use serde_json::{Value, json};
use support::{TestDatabase, TestServer, add_user, demo};

/// Contacts in the demo data; the jobs split them into this many disjoint id ranges.
const CONTACTS: u64 = 1_600;
const JOBS: u64 = 4;
/// Small batches, so every job runs many of them and a kill lands in the middle of one.
const BATCH: u64 = 20;

async fn row_counts(database: &TestDatabase, schema: &Schema) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for entity in schema.entities() {
        let name = entity.name.as_str();
        counts.insert(
            name.to_owned(),
            database
                .scalar(&format!("SELECT COUNT(*) FROM {name} WHERE id <> 0"))
                .await,
        );
    }
    counts
}

/// Every history entry, oldest first.
async fn history(server: &TestServer, admin: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut after = 0;
    loop {
        let (status, page) = server
            .get(
                Some(admin),
                &format!("/api/v1/history?after={after}&limit=1000"),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        entries.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => return entries,
        }
    }
}

async fn job(server: &TestServer, admin: &str, id: i64) -> Value {
    let (status, job) = server.get(Some(admin), &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(status, 200, "{job}");
    job
}

/// Waits until `done` holds for the job, polling one of the servers.
async fn wait_until(
    server: &TestServer,
    admin: &str,
    id: i64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let job = job(server, admin, id).await;
        if done(&job) {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "job {id}: {what} did not happen: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The history's batches of one job must cover its members once: contiguous member-id
/// ranges, the members adding up to the job's total, the counts adding up to its counts.
fn assert_batches_cover_the_job_once(entries: &[Value], job: &Value) {
    let id = job["id"].as_i64().unwrap();
    let kind = job["kind"].as_str().unwrap();
    let batches: Vec<&Value> = entries
        .iter()
        .filter(|entry| {
            entry["action"] == format!("{kind}.batch") && entry["details"]["job"] == json!(id)
        })
        .collect();
    assert!(!batches.is_empty(), "job {id} has no batch entries");
    let mut after = batches[0]["details"]["member_ids"]["after"]
        .as_i64()
        .unwrap();
    let mut members = 0;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for batch in &batches {
        let details = &batch["details"];
        assert_eq!(
            details["member_ids"]["after"].as_i64().unwrap(),
            after,
            "job {id}: a batch does not start where the one before ended (applied twice, or a gap): {details}"
        );
        after = details["member_ids"]["up_to"].as_i64().unwrap();
        members += details["members"].as_u64().unwrap();
        for (entity, count) in details["counts"].as_object().unwrap() {
            *counts.entry(entity.clone()).or_default() += count.as_u64().unwrap();
        }
    }
    assert_eq!(members, job["total"].as_u64().unwrap(), "job {id}: {job}");
    let job_counts: BTreeMap<String, u64> = job["counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(entity, count)| (entity.clone(), count.as_u64().unwrap()))
        .filter(|(_, count)| *count > 0)
        .collect();
    counts.retain(|_, count| *count > 0);
    assert_eq!(
        counts, job_counts,
        "job {id}: history batches against the job's counts"
    );
    let executed = entries
        .iter()
        .filter(|entry| {
            entry["action"] == format!("{kind}.executed") && entry["details"]["job"] == json!(id)
        })
        .count();
    assert_eq!(executed, 1, "job {id} must be executed exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_jobs_survive_a_killed_one_and_purge_once() {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("skipped: PostgreSQL is not available");
        return;
    };
    let schema = Schema::default_crm();
    demo(&database, CONTACTS);
    let (_, admin) = add_user(&database, "ada", "admin");
    let files = database.scratch_dir().join("files");
    let before = row_counts(&database, &schema).await;

    // Auto-purge two seconds after a batch is trashed: the three schedulers all see the
    // same overdue batches at about the same moment.
    let env = [
        ("LETHE_RETENTION", "2s"),
        ("LETHE_FILES_DIR", files.to_str().unwrap()),
    ];
    let mut servers: Vec<Option<TestServer>> = (0..3)
        .map(|_| Some(TestServer::start_with_env(&database, &env)))
        .collect();

    // Disjoint id ranges of contacts, each trashed by its own job, started on the servers
    // in turn (the instance that accepts a job starts running it).
    let share = CONTACTS / JOBS;
    let mut jobs = Vec::new();
    for index in 0..JOBS {
        let server = servers[index as usize % 3].as_ref().unwrap();
        let filter = format!("id > {} and id <= {}", index * share, (index + 1) * share);
        let snapshot = server
            .snapshot(
                &admin,
                json!({"entity": "contact", "filter": filter, "all_matching": true}),
            )
            .await;
        let job = server
            .accepted(
                &admin,
                "/api/v1/trash",
                &json!({"snapshot_id": snapshot, "reason": "multi-instance test", "batch_size": BATCH}),
            )
            .await;
        jobs.push(job["id"].as_i64().unwrap());
    }

    // Kill the first instance while its first job is in the middle.
    let first = jobs[0];
    let observer = servers[1].as_ref().unwrap();
    let running = wait_until(observer, &admin, first, "some batches", |job| {
        job["done"].as_u64().unwrap() > 0 || job["state"] == "done"
    })
    .await;
    let mut killed = servers[0].take().unwrap();
    killed.kill_now();
    eprintln!(
        "killed instance 0 with job {first} at {} of {} members ({})",
        running["done"], running["total"], running["state"]
    );

    // The two survivors finish every job.
    let observer = servers[1].as_ref().unwrap();
    let mut finished = Vec::new();
    for &id in &jobs {
        finished.push(
            wait_until(observer, &admin, id, "finishing", |job| {
                job["state"] == "done"
            })
            .await,
        );
    }

    // Every trashed batch is auto-purged exactly once.
    let batches: Vec<i64> = finished
        .iter()
        .map(|job| job["batch_id"].as_i64().unwrap())
        .collect();
    let started = Instant::now();
    let purges = loop {
        let (status, listed) = observer.get(Some(&admin), "/api/v1/jobs?limit=1000").await;
        assert_eq!(status, 200, "{listed}");
        let purges: Vec<Value> = listed["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|job| job["kind"] == "purge")
            .cloned()
            .collect();
        let all_done =
            purges.len() >= batches.len() && purges.iter().all(|job| job["state"] == "done");
        if all_done {
            break purges;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "auto-purges did not all run: {purges:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut purges_per_batch: HashMap<i64, usize> = HashMap::new();
    for purge in &purges {
        *purges_per_batch
            .entry(purge["batch_id"].as_i64().unwrap())
            .or_default() += 1;
    }
    for batch in &batches {
        assert_eq!(
            purges_per_batch.get(batch),
            Some(&1),
            "deletion batch {batch} must be purged exactly once: {purges:?}"
        );
    }
    assert_eq!(purges.len(), batches.len(), "{purges:?}");

    // The history agrees with the jobs, batch by batch, and with the data.
    let entries = history(observer, &admin).await;
    for job in finished.iter().chain(&purges) {
        let job = self::job(observer, &admin, job["id"].as_i64().unwrap()).await;
        assert_batches_cover_the_job_once(&entries, &job);
    }
    let requested = entries
        .iter()
        .filter(|entry| entry["action"] == "purge.requested")
        .count();
    assert_eq!(requested, batches.len(), "one purge request per batch");

    let after = row_counts(&database, &schema).await;
    let mut erased: BTreeMap<String, i64> = BTreeMap::new();
    for purge in &purges {
        let purge = self::job(observer, &admin, purge["id"].as_i64().unwrap()).await;
        for (entity, count) in purge["counts"].as_object().unwrap() {
            *erased.entry(entity.clone()).or_default() += count.as_i64().unwrap();
        }
    }
    for (entity, count) in &before {
        assert_eq!(
            count - after[entity],
            erased.get(entity).copied().unwrap_or(0),
            "{entity}: rows gone against the purges' counts"
        );
    }
    let trashed_contacts: u64 = finished
        .iter()
        .map(|job| job["counts"]["contact"].as_u64().unwrap_or(0))
        .sum();
    let still_trashed = database
        .scalar("SELECT COUNT(*) FROM contact WHERE trash_batch_id IS NOT NULL")
        .await;
    assert_eq!(
        trashed_contacts as i64,
        erased.get("contact").copied().unwrap_or(0) + still_trashed,
        "every trashed contact is either erased or kept in the trash by a purge rule"
    );
    database.assert_no_dangling_references(&schema).await;
    database
        .assert_no_active_child_under_trashed_parent(&schema)
        .await;
    let (status, verified) = observer.get(Some(&admin), "/api/v1/history/verify").await;
    assert_eq!(status, 200, "{verified}");
    assert!(verified["first_problem"].is_null(), "{verified}");
}
