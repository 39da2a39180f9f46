//! `lethe import` through the real binary on both backends: every row of a CSV file is
//! checked before anything is written (a dry run lists each problem with its line and
//! column), a problem writes nothing unless bad rows are to be skipped, the good rows become
//! records field for field, a row that matches a contact by e-mail updates or skips it,
//! unique and required fields and references (by id or by a unique field) are checked, bad
//! files and mappings are refused clearly, the history records the import without values,
//! no staging table outlives an import, and a killed import resumes where it stopped. The
//! same over HTTP (`POST /api/v1/import/{entity}`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write;

use serde_json::{Value, json};
use support::{Run, TestDatabase, TestServer, add_user, both_backends, lethe, lethe_command};

fn ok(run: &Run) -> &str {
    assert_eq!(
        run.status, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    &run.stdout
}

fn refused(run: &Run, expected: &str) {
    assert_eq!(
        run.status, 2,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains(expected),
        "{expected:?} in {}",
        run.stderr
    );
}

/// Writes `bytes` to a file in the test's scratch folder and returns its path.
fn file(database: &TestDatabase, name: &str, bytes: &[u8]) -> String {
    let path = database.scratch_dir().join(name);
    std::fs::File::create(&path)
        .and_then(|mut file| file.write_all(bytes))
        .unwrap();
    path.to_str().unwrap().to_owned()
}

/// Staging tables of imports that are still in the database.
async fn staging_tables(database: &TestDatabase) -> i64 {
    if database.url.starts_with("postgres") {
        database
            .scalar("SELECT COUNT(*) FROM pg_tables WHERE tablename LIKE 'lethe_import%'")
            .await
    } else {
        database
            .scalar("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'lethe_import%'")
            .await
    }
}

/// The active records of an entity as `select --json` shows them, by id.
fn records(database: &TestDatabase, entity: &str) -> Vec<Value> {
    let page = lethe(
        database,
        &["select", entity, "", "--limit", "1000", "--json"],
    )
    .json();
    page["records"].as_array().unwrap().clone()
}

fn create(database: &TestDatabase, entity: &str, fields: &[&str]) -> i64 {
    let mut args = vec!["record", "create", entity];
    args.extend_from_slice(fields);
    args.push("--json");
    let run = lethe(database, &args);
    ok(&run);
    run.json()["id"].as_i64().unwrap()
}

/// The details of the history's entries with `action`, oldest first.
fn recorded(database: &TestDatabase, action: &str) -> Vec<Value> {
    let history = lethe(database, &["history", "--json"]).json();
    let mut entries: Vec<Value> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == action)
        .cloned()
        .collect();
    entries.sort_by_key(|entry| entry["seq"].as_i64());
    entries
        .iter()
        .map(|entry| entry["details"].clone())
        .collect()
}

/// A file with a byte order mark, CRLF line ends, a cell over two lines, and a problem of
/// each kind a row can have, at known lines.
const CONTACTS: &str = "\u{feff}id,First name,last_name,email,company_id.org_number,category,custom\r\n\
1,Ann,Smith,ann@example.org,ORG-1,customer,\r\n\
2,Bob,Jones,bob@example.org,ORG-404,customer,\r\n\
3,Cy,\"Two\r\nLines\",cy@example.org,,lost,\"{\"\"vip\"\":true}\"\r\n\
4,Di,Lee,di@example.org,ORG-1,lead,\r\n\
5,Ed,Kim,ed@example.org,ORG-2,,{broken\r\n\
6,Flo\r\n\
7,Gus,Oak,gus@example.org,,prospect,\r\n";

both_backends!(
    every_row_is_checked_before_anything_is_written,
    |database: TestDatabase| async move {
        ok(&lethe(&database, &["migrate"]));
        create(&database, "company", &["name=Acme", "org_number=ORG-1"]);
        let trashed = create(&database, "company", &["name=Gone", "org_number=ORG-2"]);
        ok(&lethe(
            &database,
            &["trash", "company", &format!("id = {trashed}"), "--yes"],
        ));
        let path = file(&database, "contacts.csv", CONTACTS.as_bytes());
        let map = ["--map", "First name=first_name"];

        // The dry run: every problem with its line and column; nothing written.
        let mut args = vec!["import", "contact", path.as_str(), "--dry-run", "--json"];
        args.extend_from_slice(&map);
        let run = lethe(&database, &args);
        let answer = json!(serde_json::from_str::<Value>(ok(&run)).unwrap());
        let check = &answer["check"];
        assert_eq!(answer["job"], Value::Null);
        assert_eq!(
            (&check["rows"], &check["create"], &check["problems"]),
            (&json!(7), &json!(3), &json!(4)),
            "{check}"
        );
        let problems: Vec<(u64, Option<String>, String)> = check["first_problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|problem| {
                (
                    problem["line"].as_u64().unwrap(),
                    problem["column"].as_str().map(str::to_owned),
                    problem["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: [(u64, Option<&str>, &str); 4] = [
            (
                3,
                Some("company_id.org_number"),
                "no company in use has this org_number",
            ),
            (
                6,
                Some("category"),
                "`lead` is not allowed; expected one of: prospect, customer, lost",
            ),
            (7, Some("custom"), "expected JSON text"),
            (8, None, "has 2 cells where the header has 7 columns"),
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:?}");
        for ((line, column, message), (want_line, want_column, want)) in
            problems.iter().zip(expected)
        {
            assert_eq!(*line, want_line, "{problems:?}");
            assert_eq!(column.as_deref(), want_column, "{problems:?}");
            assert!(
                message.starts_with(want),
                "{message:?} starts with {want:?}"
            );
        }
        assert_eq!(
            check["ignored"],
            json!(["id"]),
            "Lethe's own columns are left out"
        );
        assert_eq!(records(&database, "contact").len(), 0);
        assert_eq!(staging_tables(&database).await, 0);

        // The same file for real: one bad row and nothing is written, not even a job.
        let mut args = vec!["import", "contact", path.as_str()];
        args.extend_from_slice(&map);
        let run = lethe(&database, &args);
        refused(&run, "4 row(s) have a problem, so nothing was written");
        assert!(
            run.stdout.contains("line 6, column \"category\""),
            "{}",
            run.stdout
        );
        assert_eq!(records(&database, "contact").len(), 0);
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_job WHERE kind = 'import'")
                .await,
            0
        );
        assert_eq!(staging_tables(&database).await, 0);

        // With bad rows skipped: the good rows become records, field for field.
        let mut args = vec!["import", "contact", path.as_str(), "--on-error", "skip"];
        args.extend_from_slice(&map);
        let run = lethe(&database, &args);
        assert!(
            ok(&run).contains("Imported into contact (job "),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("3 created, 0 updated, 4 skipped"),
            "{}",
            run.stdout
        );
        let made = records(&database, "contact");
        let shown: Vec<(String, String, String, Value, String, Value)> = made
            .iter()
            .map(|record| {
                (
                    record["first_name"].as_str().unwrap().to_owned(),
                    record["last_name"].as_str().unwrap().to_owned(),
                    record["email"].as_str().unwrap().to_owned(),
                    record["company_id"].clone(),
                    record["category"].as_str().unwrap().to_owned(),
                    record["custom"].clone(),
                )
            })
            .collect();
        let acme = database
            .scalar("SELECT id FROM company WHERE org_number = 'ORG-1'")
            .await;
        assert_eq!(
            shown,
            [
                (
                    "Ann".into(),
                    "Smith".into(),
                    "ann@example.org".into(),
                    json!(acme),
                    "customer".into(),
                    Value::Null
                ),
                (
                    "Cy".into(),
                    "Two\r\nLines".into(),
                    "cy@example.org".into(),
                    Value::Null,
                    "lost".into(),
                    json!({"vip": true})
                ),
                (
                    "Gus".into(),
                    "Oak".into(),
                    "gus@example.org".into(),
                    Value::Null,
                    "prospect".into(),
                    Value::Null
                ),
            ],
            "in the file's order, with the default where a cell is empty"
        );
        assert_eq!(made[0]["legal_basis"], "none", "the schema's default");
        assert_eq!(
            staging_tables(&database).await,
            0,
            "the job dropped its staging table"
        );

        // The history: who imported what and how many, never a value of the file.
        let requested = recorded(&database, "import.requested");
        assert_eq!(
            requested.len(),
            1,
            "the refused import made no job: {requested:?}"
        );
        assert_eq!(
            (
                &requested[0]["create"],
                &requested[0]["problems"],
                &requested[0]["members"]
            ),
            (&json!(3), &json!(4), &json!(7))
        );
        let executed = recorded(&database, "import.executed");
        assert_eq!(executed[0]["counts"], json!({"contact": 3}));
        let history = lethe(&database, &["history", "--json"]).stdout;
        for value in ["ann@example.org", "Smith", "ORG-404", "Lines"] {
            assert!(!history.contains(value), "{value} in the history");
        }
    }
);

both_backends!(
    a_row_that_matches_a_contact_by_email_updates_it_or_is_skipped,
    |database: TestDatabase| async move {
        ok(&lethe(&database, &["migrate"]));
        let ann = create(
            &database,
            "contact",
            &[
                "first_name=Ann",
                "last_name=Old",
                "email=ann@example.org",
                "phone=111",
            ],
        );
        let twin_a = create(
            &database,
            "contact",
            &["first_name=T", "email=twin@example.org"],
        );
        create(
            &database,
            "contact",
            &["first_name=T2", "email=TWIN@example.org"],
        );
        let file_text = "email,last_name,phone,category\n\
            \x20ANN@Example.org ,New,,customer\n\
            new@example.org,Fresh,222,\n\
            twin@example.org,Twin,,\n\
            new@example.org,Again,,\n";
        let path = file(&database, "match.csv", file_text.as_bytes());

        // Skip: a matching row changes nothing; a contact matched twice is skipped too.
        let run = lethe(
            &database,
            &[
                "import",
                "contact",
                &path,
                "--match",
                "email",
                "--on-error",
                "skip",
                "--json",
            ],
        );
        let answer: Value = serde_json::from_str(ok(&run)).unwrap();
        assert_eq!(
            (
                &answer["check"]["create"],
                &answer["check"]["skip"],
                &answer["check"]["problems"]
            ),
            (&json!(1), &json!(2), &json!(1)),
            "{answer}"
        );
        assert_eq!(
            answer["check"]["first_problems"][0]["line"], 5,
            "the e-mail again"
        );
        let ann_now = lethe(
            &database,
            &["record", "get", "contact", &ann.to_string(), "--json"],
        )
        .json();
        assert_eq!(ann_now["last_name"], "Old");
        let fresh = database
            .scalar("SELECT COUNT(*) FROM contact WHERE email = 'new@example.org'")
            .await;
        assert_eq!(fresh, 1);

        // Update: the match ignores case and spaces; empty cells keep the record's value;
        // a row matching two contacts is a problem, and the e-mail itself is not rewritten.
        let run = lethe(
            &database,
            &[
                "import",
                "contact",
                &path,
                "--match",
                "email",
                "--on-match",
                "update",
                "--on-error",
                "skip",
                "--json",
            ],
        );
        let answer: Value = serde_json::from_str(ok(&run)).unwrap();
        assert_eq!(
            (
                &answer["check"]["update"],
                &answer["check"]["create"],
                &answer["check"]["problems"]
            ),
            (&json!(2), &json!(0), &json!(2)),
            "{answer}"
        );
        let problems = answer["check"]["first_problems"].to_string();
        assert!(
            problems.contains("matches more than one contact by email"),
            "{problems}"
        );
        let ann_now = lethe(
            &database,
            &["record", "get", "contact", &ann.to_string(), "--json"],
        )
        .json();
        assert_eq!(
            (
                &ann_now["last_name"],
                &ann_now["phone"],
                &ann_now["category"],
                &ann_now["email"]
            ),
            (
                &json!("New"),
                &json!("111"),
                &json!("customer"),
                &json!("ann@example.org")
            )
        );
        let twin = lethe(
            &database,
            &["record", "get", "contact", &twin_a.to_string(), "--json"],
        )
        .json();
        assert_eq!(
            twin["last_name"],
            Value::Null,
            "an ambiguous match changes nothing"
        );
        assert_eq!(answer["job"]["rewritten"]["contact"], 2);
    }
);

both_backends!(
    unique_and_required_fields_are_checked_in_the_file_and_against_the_records,
    |database: TestDatabase| async move {
        ok(&lethe(&database, &["migrate"]));
        create(&database, "company", &["name=Acme", "org_number=ORG-1"]);
        let text = "name,org_number,category\n\
            Beta,ORG-2,customer\n\
            Gamma,ORG-1,\n\
            ,ORG-3,\n\
            Delta,ORG-2,partner\n\
            Eps,,\n";
        let path = file(&database, "companies.csv", text.as_bytes());
        let run = lethe(
            &database,
            &["import", "company", &path, "--dry-run", "--json"],
        );
        let answer: Value = serde_json::from_str(ok(&run)).unwrap();
        let problems: Vec<(u64, String)> = answer["check"]["first_problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|problem| {
                (
                    problem["line"].as_u64().unwrap(),
                    problem["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(problems[0].0, 3);
        assert!(
            problems[0]
                .1
                .contains("is already the org_number of another company"),
            "{problems:?}"
        );
        assert_eq!(problems[1].0, 4);
        assert!(
            problems[1]
                .1
                .starts_with("name is required; the cell is empty"),
            "{problems:?}"
        );
        assert_eq!(problems[2].0, 5);
        assert!(
            problems[2].1.contains("same org_number as an earlier line"),
            "{problems:?}"
        );
        assert_eq!(answer["check"]["create"], 2);
    }
);

both_backends!(
    bad_files_and_mappings_are_refused_clearly_and_change_nothing,
    |database: TestDatabase| async move {
        ok(&lethe(&database, &["migrate"]));
        add_user(&database, "clerk", "user");
        let good = file(
            &database,
            "good.csv",
            b"first_name,email\nAnn,a@example.org\n",
        );
        let cases: Vec<(Vec<String>, &str)> = vec![
            (
                vec![file(&database, "unknown.csv", b"first_name,emial\nA,b\n")],
                "column \"emial\": contact has no field `emial` (did you mean `email`?)",
            ),
            (
                vec![good.clone(), "--map".into(), "Mail=email".into()],
                "--map names the column \"Mail\", which the file's header does not have",
            ),
            (
                vec![good.clone(), "--map".into(), "email=created_at".into()],
                "`created_at` is set by Lethe and cannot be imported",
            ),
            (
                vec![good.clone(), "--map".into(), "email=first_name".into()],
                "both fill contact.first_name",
            ),
            (
                vec![good.clone(), "--map".into(), "email=company_id.name".into()],
                "company.name is not a unique field of company",
            ),
            (
                vec![file(&database, "empty.csv", b"")],
                "the file has no header line",
            ),
            (
                vec![file(&database, "latin1.csv", b"first_name,\xe9mail\nA,b\n")],
                "the header is not UTF-8 text in column 2",
            ),
            (
                vec![good.clone(), "--match".into(), "phone".into()],
                "--match phone: no column of the file fills contact.phone",
            ),
            (
                vec!["/nonexistent/contacts.csv".into()],
                "cannot open /nonexistent/contacts.csv",
            ),
            (
                vec![good.clone(), "--batch-size".into(), "0".into()],
                "batch",
            ),
            (
                vec![good.clone(), "--as".into(), "clerk".into()],
                "importing records is for admins only",
            ),
        ];
        for (extra, expected) in cases {
            let mut args = vec!["import", "contact"];
            args.extend(extra.iter().map(String::as_str));
            let run = lethe(&database, &args);
            refused(&run, expected);
        }
        let attachment = lethe(&database, &["import", "attachment", &good]);
        refused(&attachment, "hold a file each");
        assert_eq!(records(&database, "contact").len(), 0);
        assert_eq!(database.scalar("SELECT COUNT(*) FROM lethe_job").await, 0);
        assert_eq!(staging_tables(&database).await, 0);
    }
);

both_backends!(
    a_killed_import_resumes_where_it_stopped_and_writes_each_row_once,
    |database: TestDatabase| async move {
        ok(&lethe(&database, &["migrate"]));
        let rows = 6_000;
        let mut text = String::from("first_name,email\n");
        for number in 0..rows {
            text.push_str(&format!("P{number},p{number}@example.org\n"));
        }
        let path = file(&database, "many.csv", text.as_bytes());
        let mut child = lethe_command(&database)
            .args(["import", "contact", &path, "--batch-size", "50"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Killed once some batches have committed.
        let started = std::time::Instant::now();
        loop {
            let done = database
                .scalar("SELECT COALESCE(MAX(done), 0) FROM lethe_job WHERE kind = 'import'")
                .await;
            if done > 0 {
                break;
            }
            assert!(started.elapsed().as_secs() < 60, "no batch committed");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let imported = "SELECT COUNT(*) FROM contact WHERE email LIKE 'p%@example.org'";
        let written = database.scalar(imported).await;
        assert!(written < rows, "killed before the end: {written}");
        let job = database
            .scalar("SELECT id FROM lethe_job WHERE kind = 'import'")
            .await;
        ok(&lethe(&database, &["job", "resume", &job.to_string()]));
        assert_eq!(database.scalar(imported).await, rows);
        assert_eq!(
            database
                .scalar("SELECT COUNT(DISTINCT email) FROM contact")
                .await,
            rows,
            "no row written twice"
        );
        assert_eq!(staging_tables(&database).await, 0);
        let job_row =
            lethe(&database, &["job", "show", &job.to_string(), "--json"]).json()["job"].clone();
        assert_eq!(job_row["state"], "done");
        assert_eq!(job_row["counts"]["contact"], rows);
    }
);

both_backends!(
    the_http_import_checks_refuses_and_writes_as_the_command_line_does,
    |database: TestDatabase| async move {
        ok(&lethe(&database, &["migrate"]));
        create(&database, "company", &["name=Acme", "org_number=ORG-1"]);
        let (_, admin) = add_user(&database, "ann", "admin");
        let (_, ula) = add_user(&database, "ula", "user");
        let server = TestServer::start(&database);
        let client = reqwest::Client::new();
        let post = |token: &str, query: Vec<(&'static str, String)>, body: &'static str| {
            client
                .post(server.endpoint("/api/v1/import/contact"))
                .bearer_auth(token)
                .header("content-type", "text/csv")
                .query(&query)
                .body(body)
                .send()
        };
        let file = "Name,email,company_id.org_number\nAnn,ann@example.org,ORG-1\nBob,bob@example.org,ORG-9\n";
        let map = || ("map", r#"{"Name": "first_name"}"#.to_owned());

        // A dry run: what would happen, and the problem with its line and column.
        let answer = post(&admin, vec![map(), ("dry_run", "true".into())], file)
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(
            (&body["check"]["create"], &body["check"]["problems"]),
            (&json!(1), &json!(1))
        );
        assert_eq!(body["check"]["first_problems"][0]["line"], 3);
        assert_eq!(
            body["check"]["first_problems"][0]["column"],
            "company_id.org_number"
        );

        // Refused: 422 with the check, nothing written.
        let answer = post(&admin, vec![map()], file).await.unwrap();
        assert_eq!(answer.status(), 422);
        let body: Value = answer.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("nothing was written"),
            "{body}"
        );
        assert_eq!(body["check"]["problems"], 1);
        assert_eq!(records(&database, "contact").len(), 0);

        // Bad rows skipped: 202 with the job, which writes the good row.
        let answer = post(&admin, vec![map(), ("on_error", "skip".into())], file)
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        let body: Value = answer.json().await.unwrap();
        assert_eq!(location, format!("/api/v1/jobs/{}", body["job"]["id"]));
        support::wait_for_count(
            &database,
            "the import job",
            "SELECT COUNT(*) FROM lethe_job WHERE kind = 'import' AND state = 'done'",
            1,
        )
        .await;
        let made = records(&database, "contact");
        assert_eq!(made.len(), 1);
        assert_eq!(
            (&made[0]["first_name"], &made[0]["email"]),
            (&json!("Ann"), &json!("ann@example.org"))
        );
        assert_eq!(staging_tables(&database).await, 0);

        // Refusals: a plain user, options that do not parse, a mapping that does not fit.
        for (token, query, status, words) in [
            (
                ula.as_str(),
                vec![],
                403,
                "importing records is for admins only",
            ),
            (
                admin.as_str(),
                vec![("on_error", "later".to_owned())],
                400,
                "on_error must be stop or skip",
            ),
            (
                admin.as_str(),
                vec![("map", "[1]".to_owned())],
                400,
                "map must be a JSON object",
            ),
            (
                admin.as_str(),
                vec![("on_match", "update".to_owned())],
                400,
                "on_match needs match",
            ),
            (admin.as_str(), vec![], 422, "contact has no field `Name`"),
        ] {
            let answer = post(token, query, file).await.unwrap();
            assert_eq!(answer.status(), status, "{words}");
            let body: Value = answer.json().await.unwrap();
            assert!(
                body["error"].as_str().unwrap().contains(words),
                "{words:?} in {body}"
            );
        }
        assert_eq!(
            records(&database, "contact").len(),
            1,
            "no refusal wrote anything"
        );
        let unknown = client
            .post(server.endpoint("/api/v1/import/nothing"))
            .bearer_auth(&admin)
            .body(file)
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);
    }
);

both_backends!(
    every_kind_of_value_arrives_as_the_api_would_store_it,
    |database: TestDatabase| async move {
        ok(&lethe(&database, &["migrate"]));
        let ann = create(&database, "contact", &["first_name=Ann"]);
        let deals = format!(
            "title,amount,status,contact_id\n\
             \"Tab\there, back\\slash\",1234.5,won,{ann}\n\
             Plain,,open,\n"
        );
        let path = file(&database, "deals.csv", deals.as_bytes());
        ok(&lethe(&database, &["import", "deal", &path]));
        let consents = format!(
            "contact_id,purpose,granted_at,withdrawn_at,source\n\
             {ann},marketing,2024-05-31T16:30:00.123456+02:00,,form\n"
        );
        let path = file(&database, "consents.csv", consents.as_bytes());
        ok(&lethe(&database, &["import", "consent", &path]));
        let deals = records(&database, "deal");
        assert_eq!(deals.len(), 2);
        assert_eq!(
            (
                &deals[0]["title"],
                &deals[0]["amount"],
                &deals[0]["status"],
                &deals[0]["contact_id"]
            ),
            (
                &json!("Tab\there, back\\slash"),
                &json!("1234.50"),
                &json!("won"),
                &json!(ann)
            )
        );
        assert_eq!(
            (&deals[1]["amount"], &deals[1]["contact_id"]),
            (&Value::Null, &Value::Null)
        );
        let consents = records(&database, "consent");
        assert_eq!(consents[0]["granted_at"], "2024-05-31T14:30:00.123456Z");
        assert_eq!(consents[0]["withdrawn_at"], Value::Null);
    }
);
