//! The `lethe` command line: records, users, schema, machine-readable output and errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

both_backends!(
    records_can_be_managed_from_the_command_line,
    |database: TestDatabase| async move {
        let run = lethe(
            &database,
            &[
                "record",
                "create",
                "company",
                "name=Acme AS",
                "org_number=007",
                "--json",
            ],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        let company = run.json();
        assert_eq!(
            company["org_number"], "007",
            "text fields keep what was typed"
        );
        let id = company["id"].to_string();

        let run = lethe(
            &database,
            &[
                "record",
                "create",
                "contact",
                &format!("company_id={id}"),
                "last_name=Berg",
                "--json",
            ],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.json()["company_id"], company["id"]);

        let run = lethe(
            &database,
            &[
                "record",
                "update",
                "company",
                &id,
                "--data",
                r#"{"category": "customer"}"#,
                "--json",
            ],
        );
        assert_eq!(run.json()["category"], "customer");
        let run = lethe(&database, &["record", "get", "company", &id, "--json"]);
        assert_eq!(run.json()["name"], "Acme AS");
        let run = lethe(
            &database,
            &["record", "list", "contact", "--limit", "5", "--json"],
        );
        assert_eq!(run.json()["records"].as_array().unwrap().len(), 1);
        assert!(run.json()["next_cursor"].is_null());
    }
);

both_backends!(
    errors_are_one_json_object_on_stderr_with_a_nonzero_exit,
    |database: TestDatabase| async move {
        let run = lethe(
            &database,
            &["record", "create", "contact", "categroy=lost", "--json"],
        );
        assert_eq!(run.status, 2);
        assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
        let error = run.error_json();
        assert_eq!(
            error["error"],
            "unknown field `categroy` on contact; did you mean `category`?"
        );
        assert_eq!(error["code"], "unknown_field");

        let run = lethe(&database, &["record", "get", "company", "5", "--json"]);
        assert_eq!(run.status, 2);
        assert_eq!(run.error_json()["error"], "company 5 does not exist");

        let run = lethe(
            &database,
            &["record", "create", "company", "--data", "{oops", "--json"],
        );
        assert_eq!(run.status, 2);
        assert!(
            run.error_json()["error"]
                .as_str()
                .unwrap()
                .starts_with("--data is not valid JSON")
        );

        let run = lethe(&database, &["record", "list", "contact", "--json"]);
        assert_eq!(
            run.json()["records"].as_array().unwrap().len(),
            0,
            "nothing was written"
        );
    }
);

both_backends!(
    users_get_a_token_once_and_act_as_works,
    |database: TestDatabase| async move {
        let run = lethe(&database, &["user", "add", "dpo", "--role", "admin"]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(
            run.stdout.contains("lethe_"),
            "the token is printed: {}",
            run.stdout
        );
        let run = lethe(&database, &["user", "list", "--json"]);
        assert_eq!(run.json()["users"][0]["name"], "dpo");
        let run = lethe(
            &database,
            &[
                "record", "create", "company", "name=X", "--as", "dpo", "--json",
            ],
        );
        assert_eq!(run.json()["created_by"], 1);
        let run = lethe(
            &database,
            &[
                "record", "create", "company", "name=Y", "--as", "nobody", "--json",
            ],
        );
        assert_eq!(run.status, 2);
        assert_eq!(
            run.error_json()["error"],
            "--as nobody: there is no such user; see `lethe user list`"
        );
    }
);

#[test]
fn schema_show_prints_the_effective_schema_and_check_lists_problems() {
    let database = TestDatabase::sqlite();
    let run = lethe(&database, &["schema", "show"]);
    assert_eq!(run.status, 0);
    assert!(
        run.stdout
            .contains("[entities.ticket_comment.fields.contact_id]"),
        "{}",
        run.stdout
    );
    let run = lethe(&database, &["schema", "show", "--json"]);
    assert_eq!(
        run.json()["entities"]["activity"]["purge_preconditions"][0]["require"]["status"][1],
        "verified"
    );

    let dir = database.scratch_dir();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "version = 1\n[entities.person]\nfields.email = { type = \"text\", personal = true }\nfields.boss = { type = \"reference\", to = \"persn\", on_delete = \"cascade\" }\n").unwrap();
    let run = lethe(
        &database,
        &["schema", "check", bad.to_str().unwrap(), "--json"],
    );
    assert_eq!(run.status, 1);
    let message = run.error_json()["error"].as_str().unwrap().to_owned();
    assert!(
        message.contains(
            "entities.person.fields.email: a personal field needs an anonymisation strategy"
        ),
        "{message}"
    );
    assert!(
        message.contains("relation to unknown entity `persn`; did you mean `person`?"),
        "{message}"
    );

    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "version = 1\n[entities.person]\nfields.name = { type = \"text\", required = true }\n",
    )
    .unwrap();
    let run = lethe(
        &database,
        &["schema", "check", good.to_str().unwrap(), "--json"],
    );
    assert_eq!(run.json()["entities"], 1);
    // A custom schema drives the tables and records.
    let run = lethe(
        &database,
        &[
            "--schema",
            good.to_str().unwrap(),
            "record",
            "create",
            "person",
            "name=Ada",
            "--json",
        ],
    );
    assert_eq!(run.json()["name"], "Ada", "{}", run.stderr);
}

both_backends!(
    select_counts_pages_prints_csv_and_explains,
    |database: TestDatabase| async move {
        for (name, category) in [("Ann", "prospect"), ("Bo", "lost"), ("Cy, Jr.", "lost")] {
            let run = lethe(
                &database,
                &[
                    "record",
                    "create",
                    "contact",
                    &format!("last_name={name}"),
                    &format!("category={category}"),
                ],
            );
            assert_eq!(run.status, 0, "{}", run.stderr);
        }
        let run = lethe(
            &database,
            &[
                "select",
                "contact",
                "category = \"lost\"",
                "--count",
                "--json",
            ],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.json()["count"], 2);
        let run = lethe(
            &database,
            &["select", "contact", "category = \"lost\"", "--count"],
        );
        assert_eq!(run.stdout.trim(), "2");
        let run = lethe(
            &database,
            &[
                "select",
                "contact",
                "--filter-json",
                r#"{"field": "category", "op": "=", "value": "prospect"}"#,
                "--count",
            ],
        );
        assert_eq!(run.stdout.trim(), "1", "{}", run.stderr);

        let run = lethe(
            &database,
            &[
                "select",
                "contact",
                "category = \"lost\"",
                "--format",
                "csv",
                "--sort",
                "last_name",
            ],
        );
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert!(
            lines[0].starts_with("id,company_id,first_name,last_name,"),
            "{}",
            run.stdout
        );
        assert!(lines[1].contains(",Bo,"), "{}", run.stdout);
        assert!(lines[2].contains(",\"Cy, Jr.\","), "quoted: {}", run.stdout);

        let run = lethe(
            &database,
            &[
                "select",
                "contact",
                "category = \"lost\"",
                "--limit",
                "1",
                "--json",
            ],
        );
        let page = run.json();
        assert_eq!(page["records"].as_array().unwrap().len(), 1);
        let cursor = page["next_cursor"].as_str().unwrap().to_owned();
        let run = lethe(
            &database,
            &[
                "select",
                "contact",
                "category = \"lost\"",
                "--limit",
                "1",
                "--cursor",
                &cursor,
                "--json",
            ],
        );
        assert_eq!(run.json()["records"].as_array().unwrap().len(), 1);
        assert!(run.json()["next_cursor"].is_null());

        let run = lethe(
            &database,
            &[
                "select",
                "contact",
                "none activity(happened_at > now - 2y)",
                "--explain",
                "--json",
            ],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert!(
            run.json()["explain"]["sql"]
                .as_str()
                .unwrap()
                .contains("NOT EXISTS")
        );
        assert!(!run.json()["explain"]["plan"].as_array().unwrap().is_empty());

        let run = lethe(
            &database,
            &[
                "select",
                "contact",
                "categroy = \"lost\"",
                "--count",
                "--json",
            ],
        );
        assert_eq!(run.status, 2);
        assert_eq!(
            run.error_json()["error"],
            "1:1: unknown field `categroy` on contact; did you mean `category`?"
        );
        assert_eq!(run.error_json()["code"], "invalid_filter");
        let run = lethe(
            &database,
            &[
                "select",
                "contact",
                "created_at > \"abc\"",
                "--count",
                "--json",
            ],
        );
        assert_eq!(run.status, 2);
        assert!(
            run.error_json()["error"]
                .as_str()
                .unwrap()
                .starts_with("1:14:")
        );
    }
);

both_backends!(
    selections_and_snapshots_from_the_command_line,
    |database: TestDatabase| async move {
        for (name, category) in [("A", "prospect"), ("B", "prospect"), ("C", "lost")] {
            lethe(
                &database,
                &[
                    "record",
                    "create",
                    "contact",
                    &format!("last_name={name}"),
                    &format!("category={category}"),
                ],
            );
        }
        let run = lethe(
            &database,
            &[
                "selection",
                "save",
                "prospects",
                "contact",
                "--filter",
                "category = \"prospect\"",
                "--json",
            ],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.json()["count"], 2);
        let run = lethe(
            &database,
            &[
                "selection",
                "save",
                "c-only",
                "contact",
                "--ids",
                "3",
                "--json",
            ],
        );
        assert_eq!(run.json()["selection"]["kind"], "static");
        let run = lethe(
            &database,
            &[
                "selection",
                "save",
                "both",
                "contact",
                "--union",
                "prospects,c-only",
                "--json",
            ],
        );
        assert_eq!(run.json()["count"], 3, "{}", run.stderr);
        let run = lethe(&database, &["selection", "show", "both", "--json"]);
        assert_eq!(
            run.json()["selection"]["parts"],
            serde_json::json!(["prospects", "c-only"])
        );
        let run = lethe(
            &database,
            &[
                "selection",
                "save",
                "bad",
                "contact",
                "--ids",
                "1",
                "--filter",
                "all",
                "--json",
            ],
        );
        assert_eq!(run.status, 2);
        assert_eq!(
            run.error_json()["error"],
            "give exactly one of --filter, --ids, --union, --intersection or --difference"
        );

        let run = lethe(
            &database,
            &[
                "snapshot",
                "create",
                "contact",
                "--selection",
                "both",
                "--all-matching",
                "--exclude",
                "1",
                "--note",
                "review",
                "--json",
            ],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        let snapshot = run.json()["snapshot"].clone();
        assert_eq!(snapshot["member_count"], 2);
        let id = snapshot["id"].to_string();
        let run = lethe(&database, &["snapshot", "members", &id, "--json"]);
        let ids: Vec<i64> = run.json()["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![2, 3]);
        let run = lethe(
            &database,
            &["snapshot", "create", "contact", "--include", "99", "--json"],
        );
        assert_eq!(run.status, 2);
        assert_eq!(
            run.error_json()["error"],
            "these ticked contact ids are not active records: 99"
        );
    }
);

/// The variables a running process was started with.
fn environment_of(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .expect("the process's environment")
        .split(|byte| *byte == 0)
        .map(|variable| String::from_utf8_lossy(variable).into_owned())
        .collect()
}

#[test]
fn lethe_runs_with_two_malloc_arenas_unless_the_operator_chose_a_number() {
    let database = TestDatabase::sqlite();
    let server = TestServer::start(&database);
    let environment = environment_of(server.pid());
    assert!(
        environment
            .iter()
            .any(|variable| variable == "MALLOC_ARENA_MAX=2"),
        "{environment:?}"
    );
    drop(server);
    let server = TestServer::start_with_env(&database, &[("MALLOC_ARENA_MAX", "4")]);
    let arenas: Vec<String> = environment_of(server.pid())
        .into_iter()
        .filter(|variable| variable.starts_with("MALLOC_ARENA_MAX="))
        .collect();
    assert_eq!(arenas, ["MALLOC_ARENA_MAX=4"]);
}
