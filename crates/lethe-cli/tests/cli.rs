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
        // The bound values as SQL literals, not a dump of the program's own types.
        let parameters = run.json()["explain"]["parameters"].to_string();
        assert!(
            !parameters.contains("Values") && !parameters.contains("Some("),
            "{parameters}"
        );

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

/// `lethe … | head -1`: the reader goes away; the command ends quietly, without a panic.
#[test]
fn a_closed_output_pipe_ends_a_command_quietly() {
    let database = TestDatabase::sqlite();
    assert_eq!(lethe(&database, &["migrate"]).status, 0);
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = lethe_command(&database)
        .args(["schema", "show"])
        .stdout(writer)
        .output()
        .expect("run lethe");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "{stderr}");
}

both_backends!(
    an_empty_filter_never_means_every_record_unless_said,
    |database: TestDatabase| async move {
        let contact = lethe(
            &database,
            &["record", "create", "contact", "last_name=Kept", "--json"],
        );
        assert_eq!(contact.status, 0, "{}", contact.stderr);
        for args in [
            &["trash", "contact", "--yes", "--json"][..],
            &["anonymize", "contact", "--yes", "--json"],
            &["preview", "contact", "--json"],
        ] {
            let command = args[0];
            let run = lethe(&database, args);
            assert_eq!(run.status, 2, "{command}: {}", run.stderr);
            let message = run.error_json()["error"].as_str().unwrap().to_owned();
            assert!(message.contains("--all"), "{command}: {message}");
        }
        let run = lethe(
            &database,
            &[
                "update",
                "contact",
                "--set",
                "category=lost",
                "--yes",
                "--json",
            ],
        );
        assert_eq!(run.status, 2, "{}", run.stderr);
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM contact WHERE trash_batch_id IS NOT NULL")
                .await,
            0,
            "nothing was trashed"
        );
        // Said on purpose, it does.
        let run = lethe(&database, &["trash", "contact", "--all", "--yes", "--json"]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.json()["job"]["counts"]["contact"], 1);
    }
);

both_backends!(
    history_lists_the_newest_entries_first_unless_asked,
    |database: TestDatabase| async move {
        for name in ["First", "Second", "Third"] {
            lethe(
                &database,
                &["record", "create", "contact", &format!("last_name={name}")],
            );
            let run = lethe(
                &database,
                &[
                    "trash",
                    "contact",
                    &format!("last_name = \"{name}\""),
                    "--yes",
                    "--reason",
                    name,
                ],
            );
            assert_eq!(run.status, 0, "{}", run.stderr);
        }
        let ids = |run: &Run| -> Vec<i64> {
            run.json()["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|entry| entry["id"].as_i64().unwrap())
                .collect()
        };
        let newest = ids(&lethe(&database, &["history", "--limit", "2", "--json"]));
        let oldest = ids(&lethe(
            &database,
            &["history", "--limit", "2", "--oldest-first", "--json"],
        ));
        let all = ids(&lethe(
            &database,
            &["history", "--limit", "1000", "--oldest-first", "--json"],
        ));
        assert_eq!(newest, vec![all[all.len() - 1], all[all.len() - 2]]);
        assert_eq!(oldest, all[..2].to_vec());
        let older = ids(&lethe(
            &database,
            &[
                "history",
                "--limit",
                "1",
                "--before",
                &newest[1].to_string(),
                "--json",
            ],
        ));
        assert_eq!(older, vec![all[all.len() - 3]]);
    }
);

/// A port someone else has: the error says so and points at `--listen`.
#[test]
fn a_port_in_use_points_at_listen() {
    let database = TestDatabase::sqlite();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().unwrap().to_string();
    let run = lethe(&database, &["serve", "--listen", &address, "--json"]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    let message = run.error_json()["error"].as_str().unwrap().to_owned();
    assert!(
        message.contains("already in use") && message.contains("--listen"),
        "{message}"
    );
}

/// A PostgreSQL database that does not exist: say how to create it, never an internal line.
#[tokio::test]
async fn a_missing_postgresql_database_says_how_to_create_it() {
    let Some(server) = TestDatabase::postgres().await else {
        return;
    };
    let missing = format!("{}_missing", server.url);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lethe"))
        .args(["--db", &missing, "record", "list", "contact", "--json"])
        .output()
        .expect("run lethe");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("createdb") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("line"), "{stderr}");
}

both_backends!(
    tokens_can_be_revoked_and_users_removed_and_the_history_says_so,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "ada", "admin");
        let (_, token) = add_user(&database, "uma", "user");
        let (_, other) = add_user(&database, "ole", "user");
        let server = TestServer::start(&database);
        let (status, _) = server.get(Some(&token), "/api/v1/me").await;
        assert_eq!(status, 200);

        // A user sees and revokes their own tokens, not someone else's.
        let mine = lethe(
            &database,
            &["--as", "uma", "user", "tokens", "uma", "--json"],
        );
        assert_eq!(mine.status, 0, "{}", mine.stderr);
        let listed = mine.json()["tokens"].clone();
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert!(!listed.to_string().contains(&token), "no secret is listed");
        let token_id = listed[0]["id"].as_i64().unwrap().to_string();
        let refused = lethe(
            &database,
            &["--as", "ole", "user", "revoke-token", &token_id, "--json"],
        );
        assert_eq!(refused.status, 2, "{}", refused.stderr);
        let refused = lethe(
            &database,
            &["--as", "ole", "user", "tokens", "uma", "--json"],
        );
        assert_eq!(refused.status, 2, "{}", refused.stderr);
        let revoked = lethe(
            &database,
            &["--as", "uma", "user", "revoke-token", &token_id, "--json"],
        );
        assert_eq!(revoked.status, 0, "{}", revoked.stderr);
        assert!(revoked.json()["token"]["revoked_at"].is_string());
        let (status, _) = server.get(Some(&token), "/api/v1/me").await;
        assert_eq!(status, 401, "a revoked token no longer works");
        let again = lethe(&database, &["user", "revoke-token", &token_id, "--json"]);
        assert_eq!(again.status, 2, "{}", again.stderr);

        // Only an admin removes a user; their tokens stop working; the last admin stays.
        let refused = lethe(
            &database,
            &["--as", "uma", "user", "remove", "ole", "--yes", "--json"],
        );
        assert_eq!(refused.status, 2, "{}", refused.stderr);
        let (status, _) = server.get(Some(&other), "/api/v1/me").await;
        assert_eq!(status, 200);
        let removed = lethe(
            &database,
            &["--as", "ada", "user", "remove", "ole", "--yes", "--json"],
        );
        assert_eq!(removed.status, 0, "{}", removed.stderr);
        assert_eq!(removed.json()["tokens_revoked"], 1);
        let (status, _) = server.get(Some(&other), "/api/v1/me").await;
        assert_eq!(status, 401, "a removed user's token no longer works");
        let acting = lethe(&database, &["--as", "ole", "job", "list", "--json"]);
        assert_eq!(acting.status, 2, "{}", acting.stderr);
        let last = lethe(&database, &["user", "remove", "ada", "--yes", "--json"]);
        assert_eq!(last.status, 2, "{}", last.stderr);
        assert!(last.stderr.contains("last admin"), "{}", last.stderr);
        let (status, _) = server.get(Some(&admin), "/api/v1/me").await;
        assert_eq!(status, 200);
        let listed = lethe(&database, &["user", "list", "--json"]).json();
        let names: Vec<&str> = listed["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|user| user["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["ada", "uma"]);

        let history = lethe(&database, &["history", "--json"]).json().to_string();
        assert!(
            history.contains("token.revoked") && history.contains("user.removed"),
            "{history}"
        );
        let verified = lethe(&database, &["history", "--verify", "--json"]).json();
        assert!(
            verified["verification"]["first_problem"].is_null(),
            "{verified}"
        );
    }
);

/// Runs `lethe ARGS` with `input` on its standard input.
fn lethe_with_input(database: &TestDatabase, args: &[&str], input: &str) -> (i32, String) {
    let run = support::lethe_with_input(database, args, input);
    (run.status, run.stderr)
}

both_backends!(
    passwords_are_read_from_stdin_stored_as_argon2_hashes_and_set_by_their_user_or_an_admin,
    |database: TestDatabase| async move {
        let hashed = "SELECT COUNT(*) FROM lethe_user WHERE password_hash LIKE '$argon2id$%'";
        // Too short: refused before the user is made.
        let (status, stderr) = lethe_with_input(
            &database,
            &["user", "add", "ann", "--password-stdin"],
            "short\n",
        );
        assert_eq!(status, 2, "{stderr}");
        assert!(stderr.contains("at least 12 characters"), "{stderr}");
        assert_eq!(database.scalar("SELECT COUNT(*) FROM lethe_user").await, 0);
        let (status, stderr) = lethe_with_input(
            &database,
            &["user", "add", "ann", "--password-stdin"],
            "ann's long passphrase\n",
        );
        assert_eq!(status, 0, "{stderr}");
        add_user(&database, "bob", "user");
        assert_eq!(database.scalar(hashed).await, 1);
        // Bob may not set Ann's password; Ann may, and the operator may.
        let (status, stderr) = lethe_with_input(
            &database,
            &["--as", "bob", "user", "passwd", "ann"],
            "bob chose this one\n",
        );
        assert_eq!(status, 2, "{stderr}");
        assert!(stderr.contains("only `ann` or an admin"), "{stderr}");
        let (status, stderr) = lethe_with_input(
            &database,
            &["--as", "ann", "user", "passwd", "ann"],
            "ann's new passphrase\r\n",
        );
        assert_eq!(status, 0, "{stderr}");
        let (status, stderr) = lethe_with_input(
            &database,
            &["user", "passwd", "bob"],
            "bob's own passphrase\n",
        );
        assert_eq!(status, 0, "{stderr}");
        assert_eq!(database.scalar(hashed).await, 2);
        // Nothing stores or records a password itself.
        for table in ["lethe_user", "lethe_history"] {
            let rows = database.dump(table, "id").await.join("\n");
            assert!(!rows.contains("passphrase"), "{table}: {rows}");
        }
        let history = database.dump("lethe_history", "id").await.join("\n");
        assert_eq!(history.matches("user.password_set").count(), 3, "{history}");
    }
);

both_backends!(
    roles_and_sign_in_sessions_are_managed_from_the_command_line_as_the_policy_says,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "ann", "user", "ann's long passphrase");
        add_user(&database, "boss", "admin");
        // A plain user may not change roles; the last admin stays one.
        let refused = lethe(&database, &["--as", "ann", "user", "role", "ann", "admin"]);
        assert_eq!(refused.status, 2, "{}", refused.stderr);
        assert!(refused.stderr.contains("admin"), "{}", refused.stderr);
        let last = lethe(&database, &["user", "role", "boss", "user"]);
        assert_eq!(last.status, 2, "{}", last.stderr);
        assert!(last.stderr.contains("the last admin"), "{}", last.stderr);
        let promoted = lethe(&database, &["user", "role", "ann", "admin", "--json"]);
        assert_eq!(promoted.status, 0, "{}", promoted.stderr);
        assert_eq!(promoted.json()["user"]["role"], "admin");

        // Ann signs in to the pages; her session is listed, then ended from the command line.
        let server = TestServer::start(&database);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = client
            .get(server.endpoint("/sign-in"))
            .send()
            .await
            .unwrap();
        let cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = page.text().await.unwrap();
        let token = html
            .split("name=\"form_token\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let signed_in = client
            .post(server.endpoint("/sign-in"))
            .header("cookie", &cookie)
            .form(&[
                ("form_token", token.as_str()),
                ("name", "ann"),
                ("password", "ann's long passphrase"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 303);
        let session = signed_in.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let listed = lethe(
            &database,
            &["--as", "ann", "user", "sessions", "ann", "--json"],
        );
        assert_eq!(listed.status, 0, "{}", listed.stderr);
        assert_eq!(listed.json()["sessions"].as_array().unwrap().len(), 1);
        let ended = lethe(&database, &["user", "end-sessions", "ann", "--json"]);
        assert_eq!(ended.json()["sessions_ended"], 1);
        let account = client
            .get(server.endpoint("/account"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(account.status(), 303, "the ended session opens nothing");
        let listed = lethe(&database, &["user", "sessions", "ann"]);
        assert!(
            listed.stdout.contains("not signed in anywhere"),
            "{}",
            listed.stdout
        );
    }
);
