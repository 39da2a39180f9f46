//! `lethe export` and `GET /api/v1/export/{entity}` through the real binary and server on a
//! demo data set, on both backends: what they write is what `lethe select` shows, in CSV
//! (read back with a CSV reader) and NDJSON; text a spreadsheet would run is neutralised and
//! counted; a deletion batch exports what a purge would erase; the history records each
//! export without personal values; bad input is refused clearly and writes nothing; a reader
//! that goes away ends the export quietly, recorded as not complete.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Read;
use std::process::Stdio;

use serde_json::{Value, json};
use support::{
    PageClient, Run, TestDatabase, TestServer, add_user, add_user_with_password, both_backends,
    demo, lethe, lethe_command,
};

fn ok(run: &Run) -> &str {
    assert_eq!(
        run.status, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    &run.stdout
}

/// The records `lethe select` shows for the filter, all of them.
fn selected(database: &TestDatabase, entity: &str, filter: &str) -> Vec<Value> {
    let page = lethe(
        database,
        &["select", entity, filter, "--limit", "1000", "--json"],
    )
    .json();
    assert_eq!(page["next_cursor"], Value::Null, "more than one page");
    page["records"].as_array().unwrap().clone()
}

/// How a value of the API's JSON reads in a CSV cell.
fn cell_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
            format!("'{text}")
        }
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The CSV's header and rows.
fn read_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|row| row.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn assert_csv_holds(text: &str, records: &[Value]) {
    let (header, rows) = read_csv(text);
    assert_eq!(
        header[..4],
        ["id", "created_at", "created_by", "updated_at"]
    );
    assert_eq!(rows.len(), records.len());
    for (row, record) in rows.iter().zip(records) {
        for (name, cell) in header.iter().zip(row) {
            assert_eq!(cell, &cell_of(&record[name.as_str()]), "{name} of {record}");
        }
    }
}

/// The details of the history's export entries, oldest first.
fn exports_recorded(database: &TestDatabase) -> Vec<Value> {
    let history = lethe(database, &["history", "--json"]).json();
    let mut entries: Vec<Value> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "records.exported")
        .cloned()
        .collect();
    entries.sort_by_key(|entry| entry["seq"].as_i64());
    entries
        .iter()
        .map(|entry| entry["details"].clone())
        .collect()
}

both_backends!(
    an_export_holds_what_was_selected_in_either_format_and_the_history_says_so,
    |database: TestDatabase| async move {
        demo(&database, 300);
        let lost = r#"category = "lost""#;
        let records = selected(&database, "contact", lost);
        assert!(records.len() > 10, "{}", records.len());

        // CSV to standard output: every field of every record, as `select` shows them.
        let run = lethe(&database, &["export", "contact", lost]);
        assert_csv_holds(ok(&run), &records);
        assert!(
            run.stderr.contains(&format!(
                "Exported {} contact record(s) as CSV.",
                records.len()
            )),
            "{}",
            run.stderr
        );

        // NDJSON to a file: one record a line, as the API writes it.
        let file = database.scratch_dir().join("lost.ndjson");
        let run = lethe(
            &database,
            &[
                "export",
                "contact",
                lost,
                "--format",
                "ndjson",
                "-o",
                file.to_str().unwrap(),
                "--json",
            ],
        );
        let summary: Value = serde_json::from_str(ok(&run)).unwrap();
        assert_eq!(summary["records"], records.len());
        let lines: Vec<Value> = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines, records);

        // A value a spreadsheet would run is written as text, and the export says so.
        let created = lethe(
            &database,
            &[
                "record",
                "create",
                "contact",
                "last_name==HYPERLINK(\"http://x\")",
                "--json",
            ],
        )
        .json();
        let id = created["id"].as_i64().unwrap();
        let run = lethe(&database, &["export", "contact", &format!("id = {id}")]);
        let (header, rows) = read_csv(ok(&run));
        let last_name = header.iter().position(|name| name == "last_name").unwrap();
        assert_eq!(rows[0][last_name], "'=HYPERLINK(\"http://x\")");
        assert!(
            run.stderr
                .contains("1 text cell(s) starting with =, +, - or @"),
            "{}",
            run.stderr
        );

        // A deletion batch: what a purge of it would erase, the trash included.
        let trashed = lethe(&database, &["trash", "contact", lost, "--yes", "--json"]).json();
        let batch = trashed["job"]["batch_id"].as_i64().unwrap().to_string();
        let run = lethe(
            &database,
            &["export", "contact", "--batch", &batch, "--format", "ndjson"],
        );
        let ids: Vec<i64> = ok(&run)
            .lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        let ids_of = |records: Vec<Value>| -> Vec<i64> {
            records
                .iter()
                .map(|record| record["id"].as_i64().unwrap())
                .collect()
        };
        let in_trash = lethe(
            &database,
            &[
                "select", "contact", lost, "--scope", "trashed", "--limit", "1000", "--json",
            ],
        )
        .json();
        let in_trash = ids_of(in_trash["records"].as_array().unwrap().clone());
        assert!(!in_trash.is_empty());
        assert_eq!(ids, in_trash);
        // What the trash refused (kept by restrict rules) is still exported as active.
        let still_active = ids_of(selected(&database, "contact", lost));
        let (_, rows) = read_csv(ok(&lethe(&database, &["export", "contact", lost])));
        let exported: Vec<i64> = rows.iter().map(|row| row[0].parse().unwrap()).collect();
        assert_eq!(exported, still_active);
        assert_eq!(in_trash.len() + still_active.len(), records.len());

        // A user may export what the records API shows them, not the trash.
        add_user(&database, "ula", "user");
        let refused = lethe(
            &database,
            &["export", "contact", "--batch", &batch, "--as", "ula"],
        );
        assert_ne!(refused.status, 0);
        assert!(
            refused.stderr.contains("only they and admins can see it"),
            "{}",
            refused.stderr
        );
        assert!(refused.stdout.is_empty());
        let refused = lethe(
            &database,
            &["export", "contact", "--scope", "trashed", "--as", "ula"],
        );
        assert!(
            refused.stderr.contains("exporting records in the trash"),
            "{}",
            refused.stderr
        );
        ok(&lethe(&database, &["export", "company", "--as", "ula"]));

        // The history: who, what, how many; a personal value in a filter as a tag only.
        ok(&lethe(
            &database,
            &["export", "contact", r#"email = "nobody@secret.example""#],
        ));
        let recorded = exports_recorded(&database);
        assert_eq!(recorded.len(), 7, "{recorded:?}");
        assert_eq!(
            recorded[0],
            json!({"source": "filter: category = \"lost\"", "scope": "active", "format": "csv",
                   "records": records.len(), "complete": true, "formula_cells_guarded": recorded[0]["formula_cells_guarded"]})
        );
        assert_eq!(recorded[3]["source"], format!("deletion batch {batch}"));
        assert_eq!(recorded[3]["scope"], Value::Null);
        let last = recorded[6].to_string();
        assert!(!last.contains("nobody@secret.example"), "{last}");
        assert!(last.contains("filter: email = "), "{last}");

        // Bad input: a clear message, nothing written.
        let target = database.scratch_dir().join("never.csv");
        let bad = lethe(
            &database,
            &[
                "export",
                "contact",
                "email == 1",
                "-o",
                target.to_str().unwrap(),
            ],
        );
        assert_ne!(bad.status, 0);
        assert!(
            bad.stderr.contains("1:8: expected a value"),
            "{}",
            bad.stderr
        );
        assert!(!target.exists());
        let bad = lethe(&database, &["export", "contatc"]);
        assert!(
            bad.stderr.contains("unknown entity `contatc`"),
            "{}",
            bad.stderr
        );
        let bad = lethe(
            &database,
            &[
                "export",
                "contact",
                "-o",
                database.scratch_dir().to_str().unwrap(),
            ],
        );
        assert!(bad.stderr.contains("is a folder"), "{}", bad.stderr);
        let leftovers: Vec<_> = std::fs::read_dir(database.scratch_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .contains("lethe-partial")
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_eq!(
            exports_recorded(&database).len(),
            7,
            "refusals export nothing"
        );

        // A reader that stops after the first bytes: the export ends quietly, recorded as
        // not complete.
        let mut child = lethe_command(&database)
            .args(["export", "activity"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 64];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let recorded = exports_recorded(&database);
        let stopped = recorded.last().unwrap();
        assert_eq!(stopped["complete"], false, "{stopped}");
        assert!(stopped["records"].as_u64().unwrap() >= 1_000, "{stopped}");
    }
);

both_backends!(
    the_http_export_streams_what_the_cli_writes_and_a_client_that_leaves_stops_it,
    |database: TestDatabase| async move {
        demo(&database, 1_500);
        let (_, admin) = add_user(&database, "ann", "admin");
        let (_, ula) = add_user(&database, "ula", "user");
        let server = TestServer::start(&database);
        let lost = r#"category = "lost""#;
        let client = reqwest::Client::new();
        let get = |token: &str, query: &[(&str, &str)]| {
            client
                .get(server.endpoint("/api/v1/export/contact"))
                .bearer_auth(token)
                .query(query)
                .send()
        };

        for format in ["csv", "ndjson"] {
            let answer = get(&admin, &[("filter", lost), ("format", format)])
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            let headers = answer.headers().clone();
            let body = answer.text().await.unwrap();
            let cli = lethe(&database, &["export", "contact", lost, "--format", format]);
            assert_eq!(
                body,
                ok(&cli),
                "{format}: the same bytes as the command line"
            );
            let disposition = headers["content-disposition"].to_str().unwrap();
            assert!(
                disposition.starts_with("attachment; filename=\"contact-"),
                "{disposition}"
            );
            assert!(
                disposition.ends_with(&format!(".{format}\"")),
                "{disposition}"
            );
            if format == "csv" {
                assert!(
                    headers["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("text/csv")
                );
                assert!(headers.contains_key("lethe-formula-guard"));
            } else {
                assert_eq!(headers["content-type"], "application/x-ndjson");
            }
        }

        // Refusals answer with a JSON error before any record is sent.
        for (token, query, status, words) in [
            (
                ula.as_str(),
                vec![("scope", "trashed")],
                403,
                "exporting records in the trash",
            ),
            (admin.as_str(), vec![("filter", "email == 1")], 422, "1:8"),
            (
                admin.as_str(),
                vec![("format", "xml")],
                400,
                "not an export format",
            ),
            (
                admin.as_str(),
                vec![("batch", "1"), ("snapshot", "1")],
                400,
                "one of filter, snapshot and batch",
            ),
            (admin.as_str(), vec![("batch", "999")], 404, "999"),
        ] {
            let answer = get(token, &query).await.unwrap();
            assert_eq!(answer.status(), status, "{query:?}");
            let body: Value = answer.json().await.unwrap();
            assert!(
                body["error"].as_str().unwrap().contains(words),
                "{query:?}: {body}"
            );
        }

        // On the pages: the records page's bulk bar freezes what was picked and downloads it;
        // the recycle bin offers each batch's export before a purge.
        add_user_with_password(&database, "pia", "admin", "a long enough passphrase");
        let mut pages = PageClient::new(&server);
        pages.sign_in("pia", "a long enough passphrase").await;
        let (_, _, list) = pages.get("/records/contact").await;
        let token = PageClient::form_token(&list);
        let (status, headers, _) = pages
            .post(
                "/records/contact/bulk",
                &[
                    ("form_token", token.as_str()),
                    ("filter", lost),
                    ("all_matching", "1"),
                    ("except", ""),
                    ("action", "export-csv"),
                ],
            )
            .await;
        assert_eq!(status, 303);
        let location = headers["location"].to_str().unwrap().to_owned();
        assert!(location.ends_with("/export?format=csv"), "{location}");
        let snapshot = location.split('/').nth(2).unwrap().to_owned();
        let (status, headers, body) = pages.get(&location).await;
        assert_eq!(status, 200);
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let cli = lethe(&database, &["export", "contact", "--snapshot", &snapshot]);
        assert_eq!(body, ok(&cli), "the download holds the frozen pick");
        assert_eq!(
            body.lines().count(),
            1 + lethe(&database, &["select", "contact", lost, "--count"])
                .stdout
                .trim()
                .parse::<usize>()
                .unwrap()
        );
        let trashed = lethe(
            &database,
            &["trash", "contact", "id = 1", "--yes", "--json"],
        )
        .json();
        let batch = trashed["job"]["batch_id"].as_i64().unwrap();
        let (_, _, bin) = pages.get("/recycle-bin").await;
        assert!(
            bin.contains(&format!("/batches/{batch}/export?format=csv")),
            "{bin}"
        );
        let (status, _, body) = pages
            .get(&format!("/batches/{batch}/export?format=csv"))
            .await;
        assert_eq!(status, 200);
        assert!(body.lines().nth(1).unwrap().starts_with("1,"), "{body}");

        // A client that reads the first bytes of a large export and goes away stops it.
        let before = exports_recorded(&database).len();
        let mut answer = client
            .get(server.endpoint("/api/v1/export/activity"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let first = answer.chunk().await.unwrap().unwrap();
        assert!(first.starts_with(b"id,created_at"));
        drop(answer);
        let started = std::time::Instant::now();
        let stopped = loop {
            let recorded = exports_recorded(&database);
            if recorded.len() > before {
                break recorded.last().unwrap().clone();
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "no export recorded"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(stopped["complete"], false, "{stopped}");
        let total: u64 = ok(&lethe(&database, &["select", "activity", "--count"]))
            .trim()
            .parse()
            .unwrap();
        assert!(
            stopped["records"].as_u64().unwrap() < total,
            "{stopped} of {total}"
        );
        let _ = ula;
    }
);
