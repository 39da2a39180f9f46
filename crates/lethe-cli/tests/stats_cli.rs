//! `lethe stats` and `GET /api/v1/stats` (SPEC §6, the consolidated table) through the real
//! binary on a demo data set, on both backends, checked against counts computed here with
//! raw SQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use support::{Run, TestDatabase, TestServer, add_user, both_backends, demo, lethe};

fn ok(run: &Run) -> Value {
    assert_eq!(
        run.status, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run.json()
}

/// Trashes the contacts matching `filter`; returns the deletion batch.
fn trash_contacts(database: &TestDatabase, filter: &str) -> i64 {
    let answer = ok(&lethe(
        database,
        &["trash", "contact", filter, "--yes", "--json"],
    ));
    assert_eq!(answer["job"]["state"], "done", "{answer}");
    answer["job"]["batch_id"].as_i64().expect("a batch id")
}

/// The SQL condition on a row aliased `r` (with its batch `b`) for a state of the table.
fn state_condition(state: &str) -> &'static str {
    match state {
        "active" => "r.trash_batch_id IS NULL",
        "trashed" => {
            "r.trash_batch_id IS NOT NULL AND b.state <> 'purge_pending' AND b.state <> 'held'"
        }
        "pending_purge" => "r.trash_batch_id IS NOT NULL AND b.state = 'purge_pending'",
        "held" => "r.trash_batch_id IS NOT NULL AND b.state = 'held'",
        other => panic!("unknown state {other}"),
    }
}

const STATES: [&str; 4] = ["active", "trashed", "pending_purge", "held"];

async fn records_in(database: &TestDatabase, table: &str, state: &str) -> i64 {
    database
        .scalar(&format!(
            "SELECT COUNT(*) FROM {table} r LEFT JOIN lethe_deletion_batch b ON b.id = r.trash_batch_id \
             WHERE r.id <> 0 AND {}",
            state_condition(state)
        ))
        .await
}

/// (number, bytes) of the attachments owned by records of `owner` in `state`.
async fn files_of(database: &TestDatabase, owner: &str, state: &str) -> (i64, i64) {
    let from = format!(
        "FROM attachment a JOIN {owner} r ON r.id = a.owner_id AND a.owner_entity = '{owner}' \
         LEFT JOIN lethe_deletion_batch b ON b.id = r.trash_batch_id \
         WHERE a.id <> 0 AND r.id <> 0 AND {}",
        state_condition(state)
    );
    let number = database.scalar(&format!("SELECT COUNT(*) {from}")).await;
    let bytes = database
        .scalar(&format!(
            "SELECT CAST(COALESCE(SUM(a.size_bytes), 0) AS BIGINT) {from}"
        ))
        .await;
    (number, bytes)
}

/// Compares every number of a stats document with raw SQL.
async fn check_against_sql(database: &TestDatabase, stats: &Value) {
    let lines = stats["entities"].as_array().expect("entities");
    assert_eq!(lines.len(), 15, "one line per entity type");
    let mut total_records = [0_i64; 4];
    for line in lines {
        let table = line["entity"].as_str().unwrap();
        for (index, state) in STATES.iter().enumerate() {
            let expected = records_in(database, table, state).await;
            assert_eq!(line["records"][state], expected, "{table} records {state}");
            total_records[index] += expected;
        }
        let holds_files = line["holds_files"].as_bool().unwrap();
        assert_eq!(holds_files, table == "attachment", "{table}");
        if holds_files {
            for state in STATES {
                let bytes = database
                    .scalar(&format!(
                        "SELECT CAST(COALESCE(SUM(r.size_bytes), 0) AS BIGINT) FROM attachment r \
                         LEFT JOIN lethe_deletion_batch b ON b.id = r.trash_batch_id \
                         WHERE r.id <> 0 AND {}",
                        state_condition(state)
                    ))
                    .await;
                assert_eq!(line["files"]["bytes"][state], bytes, "own bytes {state}");
                assert_eq!(line["files"]["count"][state], line["records"][state]);
                assert_eq!(stats["totals"]["files"]["bytes"][state], bytes);
            }
            continue;
        }
        let attachable =
            ["company", "contact", "deal", "project", "ticket", "invoice"].contains(&table);
        if !attachable {
            assert!(line["files"].is_null(), "{table}: {line}");
            continue;
        }
        for state in STATES {
            let (number, bytes) = files_of(database, table, state).await;
            assert_eq!(
                line["files"]["count"][state], number,
                "{table} files {state}"
            );
            assert_eq!(
                line["files"]["bytes"][state], bytes,
                "{table} bytes {state}"
            );
        }
    }
    for (index, state) in STATES.iter().enumerate() {
        assert_eq!(stats["totals"]["records"][state], total_records[index]);
    }
}

fn line<'a>(stats: &'a Value, entity: &str) -> &'a Value {
    stats["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["entity"] == entity)
        .unwrap_or_else(|| panic!("no line for {entity}"))
}

both_backends!(
    stats_match_raw_counts_after_trash_and_a_pending_purge,
    |database: TestDatabase| async move {
        demo(&database, 300);
        let fresh = ok(&lethe(&database, &["stats", "--json"]));
        check_against_sql(&database, &fresh).await;
        assert_eq!(line(&fresh, "contact")["records"]["active"], 300);
        assert_eq!(fresh["totals"]["records"]["trashed"], 0);
        assert_eq!(fresh["totals"]["records"]["pending_purge"], 0);

        // Contacts with files go to the trash in two batches; the second waits for its purge
        // (set here by hand: requesting a purge is another feature).
        trash_contacts(&database, "exists attachment and id < 150");
        let pending = trash_contacts(
            &database,
            "(id >= 260 and id < 270) or (exists attachment and id >= 150)",
        );
        database
            .execute(&format!(
                "UPDATE lethe_deletion_batch SET state = 'purge_pending' WHERE id = {pending}"
            ))
            .await;

        let stats = ok(&lethe(&database, &["stats", "--json"]));
        check_against_sql(&database, &stats).await;
        let contact = line(&stats, "contact");
        for state in ["trashed", "pending_purge"] {
            assert!(contact["records"][state].as_u64().unwrap() > 0, "{contact}");
            assert!(
                contact["files"]["bytes"][state].as_u64().unwrap() > 0,
                "the demo's contacts with files were trashed: {contact}"
            );
        }
        assert_eq!(
            contact["records"]["active"].as_u64().unwrap()
                + contact["records"]["trashed"].as_u64().unwrap()
                + contact["records"]["pending_purge"].as_u64().unwrap(),
            300
        );

        // The table marks what is pending purge, without colour when stdout is no terminal.
        let table = lethe(&database, &["stats"]);
        assert_eq!(table.status, 0, "{}", table.stderr);
        assert!(!table.stdout.contains('\u{1b}'), "{}", table.stdout);
        let contact_row = table
            .stdout
            .lines()
            .find(|row| row.starts_with("contact "))
            .expect("a contact row");
        assert!(contact_row.contains('!'), "{contact_row}");
        let company_row = table
            .stdout
            .lines()
            .find(|row| row.starts_with("company "))
            .expect("a company row");
        assert!(!company_row.contains('!'), "{company_row}");
        assert!(table.stdout.contains("pending purge"));

        // The same numbers over HTTP, for any signed-in user.
        let (_, token) = add_user(&database, "reader", "user");
        let server = TestServer::start(&database);
        let (status, body) = server.get(Some(&token), "/api/v1/stats").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, stats);
        let (status, _) = server.get(None, "/api/v1/stats").await;
        assert_eq!(status, 401);
        let (status, document) = server.get(None, "/api/v1/openapi.json").await;
        assert_eq!(status, 200);
        assert_eq!(
            document["paths"]["/api/v1/stats"]["get"]["operationId"],
            "stats"
        );
        assert!(document["components"]["schemas"]["Stats"].is_object());
    }
);
