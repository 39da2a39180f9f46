//! `lethe request` as an administrator and an assignee run it, on both backends, with the
//! clock set through `LETHE_NOW`: a request is due a calendar month after receipt; bad input
//! is refused with the part named and writes nothing; an extension beyond two months or
//! without a reason is refused; the assignee moves their request along; a closed request
//! shows only its keyed tag; `lethe request remind` sends each reminder once; a batch that
//! does not exist cannot be linked; `lethe purge request --request` links its batch and purge.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{Run, TestDatabase, add_user, both_backends, lethe, lethe_command};

/// Runs `lethe ARGS` with the clock at `now`.
fn lethe_at(database: &TestDatabase, now: &str, args: &[&str]) -> Run {
    let output = lethe_command(database)
        .env("LETHE_NOW", now)
        .args(args)
        .output()
        .expect("run the lethe binary");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn refused(run: &Run, field: &str, expected: &str) {
    assert_eq!(run.status, 2, "{} {}", run.stdout, run.stderr);
    let error = run.error_json();
    assert!(
        error["error"].as_str().unwrap().contains(expected),
        "{expected}: {error}"
    );
    if !field.is_empty() {
        assert_eq!(error["field"], field, "{error}");
    }
}

const NOW: &str = "2026-02-10T12:00:00Z";

both_backends!(
    requests_are_registered_extended_and_closed_from_the_command_line,
    |database: TestDatabase| async move {
        lethe(&database, &["migrate"]);
        add_user(&database, "ann", "admin");
        add_user(&database, "ula", "user");

        // Received 31 January: due on 28 February.
        let added = lethe_at(
            &database,
            NOW,
            &[
                "request",
                "add",
                "--erasure",
                "--email",
                "Ann.Person@example.org",
                "--received",
                "2026-01-31",
                "--assignee",
                "ula",
                "--json",
            ],
        )
        .json();
        let request = &added["request"];
        assert_eq!(request["due_at"], "2026-02-28T00:00:00.000000Z");
        assert_eq!(request["status"], "received");
        let id = request["id"].as_i64().unwrap().to_string();

        // Bad input: the part is named, nothing is written.
        for (args, field, expected) in [
            (
                vec!["--email", "ann.example.org"],
                "email",
                "is not an e-mail address",
            ),
            (
                vec!["--contact", "4242"],
                "contact",
                "contact 4242 does not exist",
            ),
            (
                vec!["--email", "a@example.org", "--received", "2026-03-01"],
                "received",
                "in the future",
            ),
            (
                vec!["--email", "a@example.org", "--assignee", "nobody"],
                "",
                "there is no user `nobody`",
            ),
        ] {
            let mut full = vec!["request", "add", "--access"];
            full.extend(args);
            full.push("--json");
            refused(&lethe_at(&database, NOW, &full), field, expected);
        }
        let plain = lethe_at(
            &database,
            NOW,
            &[
                "request",
                "add",
                "--access",
                "--email",
                "a@example.org",
                "--as",
                "ula",
                "--json",
            ],
        );
        assert_eq!(plain.status, 2, "{}", plain.stderr);
        assert_eq!(plain.error_json()["code"], "forbidden");
        let listed = lethe_at(&database, NOW, &["request", "list", "--json"]).json();
        assert_eq!(listed["requests"].as_array().unwrap().len(), 1);

        // Extensions: beyond two months, without a reason, earlier: refused.
        for (until, reason, field, expected) in [
            ("2026-05-01", "archives", "until", "more than 2 months"),
            ("2026-04-10", " ", "reason", "say why"),
            (
                "2026-02-20",
                "archives",
                "until",
                "moves the deadline later",
            ),
        ] {
            let run = lethe_at(
                &database,
                NOW,
                &[
                    "request", "extend", &id, "--until", until, "--reason", reason, "--json",
                ],
            );
            refused(&run, field, expected);
        }
        let extended = lethe_at(
            &database,
            NOW,
            &[
                "request",
                "extend",
                &id,
                "--until",
                "2026-04-28",
                "--reason",
                "three systems to search",
                "--json",
            ],
        )
        .json();
        assert_eq!(
            extended["request"]["deadline"],
            "2026-04-28T00:00:00.000000Z"
        );

        // The assignee starts it; a plain user may not extend; done → start makes no sense.
        let started = lethe_at(
            &database,
            NOW,
            &["request", "start", &id, "--as", "ula", "--json"],
        )
        .json();
        assert_eq!(started["request"]["status"], "in_progress");
        let run = lethe_at(
            &database,
            NOW,
            &[
                "request",
                "extend",
                &id,
                "--until",
                "2026-04-20",
                "--reason",
                "x",
                "--as",
                "ula",
                "--json",
            ],
        );
        assert_eq!(run.error_json()["code"], "forbidden");
        let refusal = lethe_at(
            &database,
            NOW,
            &["request", "refuse", &id, "--reason", "", "--json"],
        );
        refused(&refusal, "reason", "say why request");
        let done = lethe_at(
            &database,
            NOW,
            &["request", "done", &id, "--as", "ula", "--json"],
        )
        .json();
        assert_eq!(done["request"]["status"], "done");
        assert!(done["request"]["subject_email"].is_null());
        let again = lethe_at(&database, NOW, &["request", "start", &id, "--json"]);
        assert_eq!(again.status, 2);
        assert_eq!(again.error_json()["code"], "conflict");

        // The closed request shows its tag, never the address; a later request of the
        // same address is found with it.
        let shown = lethe_at(&database, NOW, &["request", "show", &id]);
        assert_eq!(shown.status, 0, "{}", shown.stderr);
        assert!(
            shown.stdout.contains("closed; kept as hash:"),
            "{}",
            shown.stdout
        );
        assert!(
            !shown.stdout.to_lowercase().contains("ann.person"),
            "{}",
            shown.stdout
        );
        lethe_at(
            &database,
            NOW,
            &[
                "request",
                "add",
                "--access",
                "--email",
                "ann.person@EXAMPLE.org",
            ],
        );
        let matched = lethe_at(
            &database,
            NOW,
            &[
                "request",
                "list",
                "--email",
                "ann.person@example.org",
                "--json",
            ],
        )
        .json();
        assert_eq!(matched["requests"].as_array().unwrap().len(), 2);
        let text = lethe_at(&database, NOW, &["request", "list", "--open"]);
        assert!(text.stdout.contains("day(s) left"), "{}", text.stdout);
    }
);

both_backends!(
    reminders_are_sent_once_and_links_need_a_batch_that_exists,
    |database: TestDatabase| async move {
        lethe(&database, &["migrate"]);
        add_user(&database, "ann", "admin");
        add_user(&database, "ula", "user");
        let added = lethe_at(
            &database,
            "2026-03-01T08:00:00Z",
            &[
                "request",
                "add",
                "--erasure",
                "--email",
                "b@example.org",
                "--assignee",
                "ula",
                "--json",
            ],
        )
        .json();
        let id = added["request"]["id"].as_i64().unwrap().to_string();

        let remind = |now: &str| {
            lethe_at(&database, now, &["request", "remind", "--json"]).json()["sent"].clone()
        };
        assert_eq!(remind("2026-03-20T08:00:00Z")["reminded"], 0);
        assert_eq!(remind("2026-03-28T08:00:00Z")["reminded"], 1);
        assert_eq!(remind("2026-03-29T08:00:00Z")["reminded"], 0);
        assert_eq!(remind("2026-04-02T08:00:00Z")["overdue"], 1);
        assert_eq!(remind("2026-04-03T08:00:00Z")["overdue"], 0);
        let feed = lethe(&database, &["notifications", "--as", "ula", "--json"]);
        assert!(
            feed.stdout.contains(&format!("request {id}")),
            "{}",
            feed.stdout
        );
        assert!(!feed.stdout.contains("b@example.org"), "{}", feed.stdout);
        let overdue = lethe_at(
            &database,
            "2026-04-03T08:00:00Z",
            &["request", "list", "--overdue"],
        );
        assert!(overdue.stdout.contains("OVERDUE"), "{}", overdue.stdout);

        let missing = lethe_at(
            &database,
            "2026-04-03T08:00:00Z",
            &["request", "link", &id, "--batch", "77", "--json"],
        );
        refused(&missing, "batch", "deletion batch 77 does not exist");
        let shown = lethe(&database, &["request", "show", &id, "--json"]).json();
        assert!(shown["request"]["links"].as_array().unwrap().is_empty());

        // `lethe purge request --request` links the batch and the purge; an unknown
        // request is refused before anything is written.
        let contact = lethe(
            &database,
            &["record", "create", "contact", "last_name=Subject", "--json"],
        )
        .json();
        let contact = contact["id"].as_i64().unwrap();
        let trashed = lethe(
            &database,
            &[
                "trash",
                "contact",
                &format!("id = {contact}"),
                "--yes",
                "--json",
            ],
        )
        .json();
        let batch = trashed["job"]["batch_id"].as_i64().unwrap().to_string();
        let unknown = lethe(
            &database,
            &[
                "purge",
                "request",
                "--batch",
                &batch,
                "--grace",
                "0",
                "--yes",
                "--request",
                "999",
                "--json",
            ],
        );
        assert_eq!(unknown.status, 2, "{}", unknown.stderr);
        assert!(
            unknown.error_json()["error"]
                .as_str()
                .unwrap()
                .contains("no request 999")
        );
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_job WHERE kind = 'purge'")
                .await,
            0
        );
        let purged = lethe(
            &database,
            &[
                "purge",
                "request",
                "--batch",
                &batch,
                "--grace",
                "0",
                "--yes",
                "--request",
                &id,
                "--json",
            ],
        );
        assert_eq!(purged.status, 0, "{}", purged.stderr);
        let shown = lethe(&database, &["request", "show", &id, "--json"]).json();
        let links = shown["request"]["links"].as_array().unwrap();
        assert_eq!(links.len(), 2, "{shown}");
        assert_eq!(links[0]["state"], "purged");
        assert_eq!(links[1]["state"], "done");
        assert_eq!(shown["request"]["ready_to_close"], true);
        let text = lethe(&database, &["request", "show", &id]).stdout;
        assert!(text.contains("Every linked purge has run"), "{text}");
    }
);
