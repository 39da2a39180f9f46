//! `lethe preview`, `trash`, `restore`, `job`, `history` through the real binary, on both
//! backends — including `kill -9` of a running trash or restore at random moments, after
//! which `lethe job resume` finishes the job with nothing half applied or counted twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use lethe_schema::Schema;
use serde_json::Value;
use support::{
    Run, TestDatabase, both_backends, crash_kills, demo, lethe, lethe_command, lethe_with_input,
};

fn ok(run: &Run) -> Value {
    assert_eq!(
        run.status, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run.json()
}

const TABLES: [&str; 15] = [
    "company",
    "contact",
    "consent",
    "deal",
    "project",
    "activity",
    "note",
    "message",
    "ticket",
    "ticket_comment",
    "survey_rating",
    "invoice",
    "time_entry",
    "campaign_membership",
    "attachment",
];

/// What a batch holds now, per table.
async fn batch_contents(database: &TestDatabase, batch: i64) -> Vec<(String, i64)> {
    let mut counts = Vec::new();
    for table in TABLES {
        let count = database
            .scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE trash_batch_id = {batch}"
            ))
            .await;
        if count > 0 {
            counts.push((table.to_owned(), count));
        }
    }
    counts.sort();
    counts
}

fn job_counts(job: &Value) -> Vec<(String, i64)> {
    let mut counts: Vec<(String, i64)> = job["counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(entity, count)| (entity.clone(), count.as_i64().unwrap()))
        .filter(|(_, count)| *count > 0)
        .collect();
    counts.sort();
    counts
}

both_backends!(
    trash_asks_twice_and_a_no_changes_nothing,
    |database: TestDatabase| async move {
        demo(&database, 200);
        let before = database.dump_entities(&Schema::default_crm()).await;
        let filter = "category = \"prospect\"";
        let declined = lethe_with_input(&database, &["trash", "contact", filter], "n\n");
        assert_eq!(declined.status, 2, "{}", declined.stderr);
        assert!(declined.stderr.contains("cancelled"), "{}", declined.stderr);
        let wrong_word = lethe_with_input(&database, &["trash", "contact", filter], "y\nyes\n");
        assert_eq!(wrong_word.status, 2);
        let json_without_yes = lethe(&database, &["trash", "contact", filter, "--json"]);
        assert_eq!(json_without_yes.status, 2);
        assert!(
            json_without_yes.error_json()["error"]
                .as_str()
                .unwrap()
                .contains("--yes")
        );
        assert_eq!(
            database.dump_entities(&Schema::default_crm()).await,
            before,
            "nothing changed"
        );

        let confirmed = lethe_with_input(
            &database,
            &["trash", "contact", filter, "--reason", "stale"],
            "y\ntrash\n",
        );
        assert_eq!(confirmed.status, 0, "{}", confirmed.stderr);
        assert!(
            confirmed.stdout.contains("Undo with: lethe restore 1"),
            "{}",
            confirmed.stdout
        );
        let trashed = database
            .scalar("SELECT COUNT(*) FROM contact WHERE trash_batch_id = 1")
            .await;
        assert!(trashed > 0);
        database
            .assert_no_active_child_under_trashed_parent(&Schema::default_crm())
            .await;

        let restored = ok(&lethe(&database, &["restore", "1", "--json"]));
        assert_eq!(restored["job"]["state"], "done");
        assert_eq!(
            database.dump_entities(&Schema::default_crm()).await,
            before,
            "restore is exact"
        );

        let history = ok(&lethe(&database, &["history", "--verify", "--json"]));
        assert!(history["verification"]["first_problem"].is_null());
        let entries = ok(&lethe(&database, &["history", "--json", "--limit", "1000"]));
        let actions: Vec<&str> = entries["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["action"].as_str().unwrap())
            .collect();
        assert!(actions.contains(&"trash.executed"));
        assert!(actions.contains(&"restore.executed"));
    }
);

both_backends!(
    preview_then_trash_the_same_snapshot,
    |database: TestDatabase| async move {
        demo(&database, 200);
        let preview = ok(&lethe(
            &database,
            &["preview", "contact", "exists deal", "--json"],
        ));
        let snapshot = preview["snapshot"]["id"].as_i64().unwrap();
        let members = preview["preview"]["members"].as_i64().unwrap();
        assert!(members > 0);
        // Every contact with a deal is blocked by it.
        assert_eq!(preview["preview"]["blocked"].as_i64().unwrap(), members);
        let trash = ok(&lethe(
            &database,
            &[
                "trash",
                "--snapshot",
                &snapshot.to_string(),
                "--yes",
                "--json",
            ],
        ));
        assert_eq!(trash["job"]["blocked"].as_i64().unwrap(), members);
        assert_eq!(trash["job"]["counts"]["contact"], 0);
        let message = trash["skips"][0]["message"].as_str().unwrap();
        assert!(message.contains("deal"), "{message}");
        let shown = ok(&lethe(&database, &["job", "show", "1", "--json"]));
        assert_eq!(shown["job"]["state"], "done");

        // A mass trash as a plain user is refused.
        support::add_user(&database, "ann", "user");
        let refused = lethe(
            &database,
            &["trash", "contact", "all", "--yes", "--as", "ann", "--json"],
        );
        assert_eq!(refused.status, 2);
        assert_eq!(refused.error_json()["code"], "forbidden");
    }
);

/// Kills `lethe ARGS` after a pseudo-random delay up to `max_ms`, then resumes with
/// `lethe job resume`. Returns whether the kill hit a running process.
fn kill_and_resume(database: &TestDatabase, args: &[&str], seed: u64, max_ms: u64) -> bool {
    let mut child = lethe_command(database)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lethe");
    let delay = Duration::from_millis(20 + seed.wrapping_mul(2_654_435_761) % max_ms);
    let started = Instant::now();
    let mut killed = false;
    while started.elapsed() < delay {
        if child.try_wait().expect("poll").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if child.try_wait().expect("poll").is_none() {
        child.kill().expect("SIGKILL");
        killed = true;
    }
    let _ = child.wait();
    let resumed = lethe(database, &["job", "resume", "--json"]);
    assert_eq!(resumed.status, 0, "{}", resumed.stderr);
    killed
}

both_backends!(
    a_killed_trash_or_restore_is_finished_by_resume_exactly_once,
    |database: TestDatabase| async move {
        demo(&database, 3_000);
        let original = database.dump_entities(&Schema::default_crm()).await;
        let mut hits = 0;
        for round in 0..crash_kills() {
            // Trash every contact that no rule blocks, killed somewhere in the middle.
            let killed = kill_and_resume(
                &database,
                &["trash", "contact", "all", "--yes", "--batch-size", "50"],
                round * 2 + 1,
                1_500,
            );
            hits += u64::from(killed);
            let jobs = ok(&lethe(&database, &["job", "list", "--json"]));
            let job = &jobs["jobs"][0];
            if job["kind"] != "trash" {
                // Killed before the job was created: nothing happened.
                assert_eq!(
                    database.dump_entities(&Schema::default_crm()).await,
                    original
                );
                continue;
            }
            assert_eq!(job["state"], "done", "{job}");
            assert_eq!(job["done"], job["total"]);
            let batch = job["batch_id"].as_i64().unwrap();
            assert_eq!(
                job_counts(job),
                batch_contents(&database, batch).await,
                "the job's counts equal the data change"
            );
            database
                .assert_no_active_child_under_trashed_parent(&Schema::default_crm())
                .await;
            let trashed_contacts = job["counts"]["contact"].as_i64().unwrap();
            assert_eq!(
                trashed_contacts
                    + job["blocked"].as_i64().unwrap()
                    + job["skipped"].as_i64().unwrap(),
                job["total"].as_i64().unwrap(),
                "every member is acted on, blocked or skipped, once"
            );

            // The history's batch entries add up to the same counts.
            let history = ok(&lethe(&database, &["history", "--json", "--limit", "1000"]));
            let contacts_in_history: i64 = history["entries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|entry| {
                    entry["action"] == "trash.batch" && entry["details"]["batch"] == batch
                })
                .map(|entry| entry["details"]["counts"]["contact"].as_i64().unwrap_or(0))
                .sum();
            assert_eq!(contacts_in_history, trashed_contacts);

            // Restore, killed too; then everything is as before.
            let killed = kill_and_resume(
                &database,
                &["restore", &batch.to_string(), "--batch-size", "50"],
                round * 2 + 2,
                1_500,
            );
            hits += u64::from(killed);
            let jobs = ok(&lethe(&database, &["job", "list", "--json"]));
            if jobs["jobs"][0]["kind"] == "restore" {
                assert_eq!(jobs["jobs"][0]["state"], "done");
            } else {
                // Killed before the restore job existed: run it now.
                ok(&lethe(
                    &database,
                    &["restore", &batch.to_string(), "--json"],
                ));
            }
            assert_eq!(
                database.dump_entities(&Schema::default_crm()).await,
                original,
                "round {round}: restore is exact"
            );
            let verified = ok(&lethe(&database, &["history", "--verify", "--json"]));
            assert!(verified["verification"]["first_problem"].is_null());
        }
        eprintln!("{hits} kill(s) hit a running job");
    }
);

async fn table_counts(database: &TestDatabase) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push(
            database
                .scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .await,
        );
    }
    counts
}

both_backends!(
    purge_requests_wait_can_be_cancelled_and_run_when_due,
    |database: TestDatabase| async move {
        demo(&database, 300);
        ok(&lethe(
            &database,
            &["trash", "contact", "category = \"lost\"", "--yes", "--json"],
        ));
        support::add_user(&database, "uma", "user");
        let refused = lethe(
            &database,
            &[
                "purge", "request", "--batch", "1", "--yes", "--as", "uma", "--json",
            ],
        );
        assert_eq!(refused.status, 2);
        assert_eq!(refused.error_json()["code"], "forbidden");

        let requested = ok(&lethe(
            &database,
            &["purge", "request", "--batch", "1", "--yes", "--json"],
        ));
        let job = requested["job"]["id"].as_i64().unwrap();
        assert_eq!(requested["job"]["state"], "pending");
        let listed = ok(&lethe(&database, &["purge", "list", "--json"]));
        assert_eq!(listed["purges"][0]["id"], job);
        let before = table_counts(&database).await;
        // Nothing is due yet.
        ok(&lethe(&database, &["purge", "run-due", "--json"]));
        assert_eq!(table_counts(&database).await, before);
        ok(&lethe(
            &database,
            &["purge", "cancel", &job.to_string(), "--json"],
        ));
        let again = lethe(&database, &["purge", "cancel", &job.to_string(), "--json"]);
        assert_eq!(again.status, 2);
        assert!(
            again.error_json()["error"]
                .as_str()
                .unwrap()
                .contains("already cancelled")
        );

        // A new request, and a clock eight days on: run-due executes it.
        let requested = ok(&lethe(
            &database,
            &["purge", "request", "--batch", "1", "--yes", "--json"],
        ));
        let job = requested["job"]["id"].as_i64().unwrap();
        let later = (time::OffsetDateTime::now_utc() + time::Duration::days(8))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        // A rewrite setting that means nothing is refused before anything runs.
        let refused = lethe_command(&database)
            .args(["purge", "run-due", "--json"])
            .env("LETHE_NOW", &later)
            .env("LETHE_PG_REWRITE", "sometimes")
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "a usage error");
        let message = String::from_utf8_lossy(&refused.stderr);
        for expected in ["LETHE_PG_REWRITE", "`sometimes`", "personal", "all", "off"] {
            assert!(message.contains(expected), "{expected:?} in {message}");
        }
        let shown = ok(&lethe(
            &database,
            &["job", "show", &job.to_string(), "--json"],
        ));
        assert_eq!(shown["job"]["state"], "pending", "{shown}");
        let ran = lethe_command(&database)
            .args(["purge", "run-due", "--json"])
            .env("LETHE_NOW", &later)
            .output()
            .unwrap();
        assert!(
            ran.status.success(),
            "{}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let shown = ok(&lethe(
            &database,
            &["job", "show", &job.to_string(), "--json"],
        ));
        assert_eq!(shown["job"]["state"], "done");
        let erased = shown["job"]["counts"]["contact"].as_i64().unwrap();
        assert!(erased > 0);
        database
            .assert_no_dangling_references(&Schema::default_crm())
            .await;
        assert!(shown["job"]["receipt"]["files"].is_object());
        let verified = ok(&lethe(&database, &["history", "--verify", "--json"]));
        assert!(verified["verification"]["first_problem"].is_null());
    }
);

both_backends!(
    a_killed_purge_is_finished_by_resume_with_nothing_half_erased,
    |database: TestDatabase| async move {
        demo(&database, 3_000);
        for round in 0..crash_kills() {
            let filters = [
                "category = \"lost\"",
                "category = \"prospect\" and created_at < now - 5y",
                "category = \"customer\"",
                "all",
            ];
            let filter = filters[usize::try_from(round).unwrap() % filters.len()];
            ok(&lethe(
                &database,
                &["trash", "contact", filter, "--yes", "--json"],
            ));
            let jobs = ok(&lethe(&database, &["job", "list", "--json"]));
            let batch = jobs["jobs"][0]["batch_id"].as_i64().unwrap();
            let in_batch_before = batch_contents(&database, batch).await;
            let totals_before = table_counts(&database).await;
            kill_and_resume(
                &database,
                &[
                    "purge",
                    "request",
                    "--batch",
                    &batch.to_string(),
                    "--grace",
                    "0",
                    "--yes",
                    "--batch-size",
                    "50",
                ],
                round + 7,
                1_500,
            );
            let jobs = ok(&lethe(&database, &["job", "list", "--json"]));
            let job = &jobs["jobs"][0];
            if job["kind"] != "purge" {
                continue;
            }
            assert_eq!(job["state"], "done", "{job}");
            let erased: i64 = job_counts(job).iter().map(|(_, count)| count).sum();
            let totals_after = table_counts(&database).await;
            let removed: i64 = totals_before
                .iter()
                .zip(&totals_after)
                .map(|(before, after)| before - after)
                .sum();
            assert_eq!(erased, removed, "the job's counts equal the rows erased");
            let left: i64 = batch_contents(&database, batch)
                .await
                .iter()
                .map(|(_, count)| count)
                .sum();
            let before: i64 = in_batch_before.iter().map(|(_, count)| count).sum();
            assert_eq!(
                before - left,
                erased,
                "only records of the batch were erased"
            );
            database
                .assert_no_dangling_references(&Schema::default_crm())
                .await;
            database
                .assert_no_active_child_under_trashed_parent(&Schema::default_crm())
                .await;
        }
    }
);

both_backends!(
    restore_with_parents_restores_the_parent_batches_first,
    |database: TestDatabase| async move {
        demo(&database, 400);
        let before = database.dump_entities(&Schema::default_crm()).await;
        // A company's contacts first, then the company itself (its contacts keep their batch).
        let company = database
            .scalar(
                "SELECT id FROM company k WHERE id > 0 \
                 AND EXISTS (SELECT 1 FROM contact c WHERE c.company_id = k.id) \
                 AND NOT EXISTS (SELECT 1 FROM deal d WHERE d.company_id = k.id) \
                 AND NOT EXISTS (SELECT 1 FROM invoice i WHERE i.company_id = k.id) \
                 AND NOT EXISTS (SELECT 1 FROM project p WHERE p.company_id = k.id) \
                 AND NOT EXISTS (SELECT 1 FROM contact c WHERE c.company_id = k.id AND ( \
                     EXISTS (SELECT 1 FROM deal d WHERE d.contact_id = c.id) \
                     OR EXISTS (SELECT 1 FROM invoice i WHERE i.contact_id = c.id) \
                     OR EXISTS (SELECT 1 FROM project p WHERE p.contact_id = c.id) \
                     OR EXISTS (SELECT 1 FROM time_entry t WHERE t.contact_id = c.id))) \
                 ORDER BY id LIMIT 1",
            )
            .await;
        let contacts = ok(&lethe(
            &database,
            &[
                "trash",
                "contact",
                &format!("company.id = {company}"),
                "--yes",
                "--json",
            ],
        ));
        assert!(
            contacts["job"]["counts"]["contact"].as_i64().unwrap() > 0,
            "{contacts}"
        );
        let companies = ok(&lethe(
            &database,
            &[
                "trash",
                "company",
                &format!("id = {company}"),
                "--yes",
                "--json",
            ],
        ));
        assert_eq!(companies["job"]["counts"]["company"], 1, "{companies}");
        let refused = lethe(&database, &["restore", "1", "--json"]);
        assert_eq!(refused.status, 2);
        let message = refused.error_json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains("restore batch 2 first"), "{message}");
        let restored = ok(&lethe(
            &database,
            &["restore", "1", "--with-parents", "--json"],
        ));
        assert_eq!(restored["parents"][0]["batch"], 2);
        assert_eq!(restored["job"]["state"], "done");
        assert_eq!(
            database.dump_entities(&Schema::default_crm()).await,
            before,
            "both batches are back, exactly"
        );
        database
            .assert_no_active_child_under_trashed_parent(&Schema::default_crm())
            .await;
    }
);

both_backends!(
    each_command_writes_the_history_head_down_and_verify_finds_the_newest_entries_removed,
    |database: TestDatabase| async move {
        let anchor = database.scratch_dir().join("history-anchor");
        let key = database.scratch_dir().join("history-key");
        let run = |args: &[&str]| {
            let output = lethe_command(&database)
                .env("LETHE_HISTORY_ANCHOR", &anchor)
                .env("LETHE_HISTORY_KEY_FILE", &key)
                .args(args)
                .output()
                .unwrap();
            (
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stdout).into_owned(),
            )
        };
        let (status, _) = run(&["record", "create", "contact", "last_name=Ann"]);
        assert_eq!(status, 0);
        let (status, _) = run(&["trash", "contact", "all", "--yes"]);
        assert_eq!(status, 0);
        let written = std::fs::read_to_string(&anchor).unwrap();
        let last = written.lines().last().unwrap().to_owned();
        let (status, text) = run(&["history", "--verify"]);
        assert_eq!(status, 0, "{text}");
        assert!(text.contains("The history is intact"), "{text}");
        assert!(text.contains("match the history"), "{text}");
        // The key never enters the database; only its fingerprint does.
        let secret = std::fs::read_to_string(&key).unwrap();
        let fingerprint = database
            .scalar("SELECT COUNT(*) FROM lethe_history_seal WHERE length(key_fingerprint) = 16")
            .await;
        assert_eq!(fingerprint, 1);
        assert!(!secret.trim().is_empty());

        // The newest entry is removed behind Lethe's back: the chain left fits, the anchor
        // does not.
        let newest: i64 = last.split(' ').next().unwrap().parse().unwrap();
        database
            .execute(&format!("DELETE FROM lethe_history WHERE seq = {newest}"))
            .await;
        let (status, text) = run(&["history", "--verify"]);
        assert_eq!(status, 2, "{text}");
        assert!(text.contains("NOT intact"), "{text}");
        assert!(text.contains("removed from its end"), "{text}");
    }
);

both_backends!(
    a_command_follows_its_job_while_another_worker_has_it_and_takes_it_over_after,
    |database: TestDatabase| async move {
        demo(&database, 100);
        ok(&lethe(
            &database,
            &["trash", "contact", "category = \"lost\"", "--yes", "--json"],
        ));
        let requested = ok(&lethe(
            &database,
            &["purge", "request", "--batch", "1", "--yes", "--json"],
        ));
        let job = requested["job"]["id"].as_i64().unwrap();
        // The job failed, and another instance (on another host, so not known to be gone)
        // holds its lease for two more seconds, as a `lethe serve` that picked it up would.
        let until = lethe_store::format_timestamp(
            time::OffsetDateTime::now_utc() + time::Duration::seconds(2),
        );
        database
            .execute(&format!(
                "UPDATE lethe_job SET state = 'failed', error = 'the worker stopped', \
                 lease_owner = 'another-host:1:worker', lease_expires_at = '{until}' \
                 WHERE id = {job}"
            ))
            .await;
        let later = (time::OffsetDateTime::now_utc() + time::Duration::days(8))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let resumed = lethe_command(&database)
            .args(["job", "resume", &job.to_string()])
            .env("LETHE_NOW", &later)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        assert!(resumed.status.success(), "{stderr}");
        assert!(
            stderr.contains("is being run by another-host:1:worker")
                && stderr.contains("following it there"),
            "{stderr}"
        );
        let shown = ok(&lethe(
            &database,
            &["job", "show", &job.to_string(), "--json"],
        ));
        assert_eq!(shown["job"]["state"], "done", "{shown}");
        assert!(shown["job"]["counts"]["contact"].as_i64().unwrap() > 0);
    }
);
