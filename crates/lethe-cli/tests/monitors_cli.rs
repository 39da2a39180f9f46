//! `lethe monitor` as people run it, on both backends, with `LETHE_NOW` moving the clock:
//! bad input (a cron pattern, a time zone, a selection, a subscriber) is refused where it
//! was given and nothing is made; a new monitor takes a baseline and tells nobody; at its
//! due time the records that entered are told to its subscribers by id, once however often
//! the scheduler looks; `hits` lists them; a plain user may not run another's monitor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{Run, TestDatabase, add_user, both_backends, lethe, lethe_command};

/// `lethe ARGS` with the clock at `now`.
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

fn contact(database: &TestDatabase, last_name: &str) -> i64 {
    let created = lethe(
        database,
        &[
            "record",
            "create",
            "contact",
            &format!("last_name={last_name}"),
            "--json",
        ],
    );
    assert_eq!(created.status, 0, "{}", created.stderr);
    created.json()["id"].as_i64().unwrap()
}

const MONDAY: &str = "2026-03-02T12:00:00Z";
const TUESDAY_MORNING: &str = "2026-03-03T07:00:30Z";

both_backends!(
    monitors_are_added_checked_and_tell_their_subscribers_on_schedule,
    |database: TestDatabase| async move {
        lethe(&database, &["migrate"]);
        add_user(&database, "ann", "user");
        add_user(&database, "bob", "user");
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
        contact(&database, "Stale-1");

        // The arguments of the add, with `flag`'s value replaced.
        let add = |flag: &str, value: &str| {
            let mut args = vec![
                "monitor",
                "add",
                "stale-watch",
                "--selection",
                "stale",
                "--schedule",
                "0 8 * * *",
                "--time-zone",
                "Europe/Oslo",
                "--subscriber",
                "ann",
                "--on-leave",
                "--as",
                "ann",
                "--json",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
            if let Some(at) = args.iter().position(|arg| arg == flag) {
                args[at + 1] = value.to_owned();
            }
            args
        };
        for (flag, value, expected) in [
            ("--schedule", "0 8 * *", "is not a cron schedule"),
            ("--time-zone", "Europe/Nowhere", "is not a time zone"),
            ("--selection", "stal", "there is no saved selection `stal`"),
            ("--subscriber", "zed", "there is no user `zed`"),
        ] {
            let args = add(flag, value);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = lethe_at(&database, MONDAY, &args);
            assert_eq!(run.status, 2, "{flag}: {}", run.stderr);
            let error = run.error_json();
            assert!(
                error["error"].as_str().unwrap().contains(expected),
                "{error}"
            );
        }
        let listed = lethe(&database, &["monitor", "list", "--json"]).json();
        assert!(
            listed["monitors"].as_array().unwrap().is_empty(),
            "{listed}"
        );

        let args = add("", "");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let added = lethe_at(&database, MONDAY, &args);
        assert_eq!(added.status, 0, "{}", added.stderr);
        let added = added.json();
        assert_eq!(added["monitor"]["members"], 1);
        // 08:00 in Oslo is 07:00 UTC in winter.
        assert_eq!(
            added["monitor"]["next_run_at"],
            "2026-03-03T07:00:00.000000Z"
        );
        assert_eq!(added["runs"][0]["kind"], "baseline");

        // Not due yet: nothing is evaluated.
        let early = lethe_at(&database, MONDAY, &["monitor", "run-due", "--json"]).json();
        assert!(early["runs"].as_array().unwrap().is_empty(), "{early}");

        let newcomer = contact(&database, "Stale-2");
        let due = lethe_at(
            &database,
            TUESDAY_MORNING,
            &["monitor", "run-due", "--json"],
        )
        .json();
        let runs = due["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1, "{due}");
        assert_eq!(runs[0]["kind"], "scheduled");
        assert_eq!(runs[0]["entered"], 1);
        assert_eq!(runs[0]["notified"], 1);
        let again = lethe_at(
            &database,
            TUESDAY_MORNING,
            &["monitor", "run-due", "--json"],
        )
        .json();
        assert!(
            again["runs"].as_array().unwrap().is_empty(),
            "once per due time: {again}"
        );

        let feed = lethe(&database, &["notifications", "--as", "ann", "--json"]).json();
        let message = feed["notifications"][0]["message"].as_str().unwrap();
        assert_eq!(feed["notifications"][0]["kind"], "monitor_hit");
        assert!(
            message.contains(&format!(
                "entered monitor stale-watch (run {}): {newcomer}.",
                runs[0]["id"]
            )),
            "{message}"
        );
        assert!(!message.contains("Stale-2"), "no field values: {message}");

        let hits = lethe(&database, &["monitor", "hits", "stale-watch", "--json"]).json();
        assert_eq!(hits["hits"][0]["record_id"], newcomer);
        assert_eq!(hits["hits"][0]["change"], "entered");
        let text = lethe(&database, &["monitor", "hits", "stale-watch"]);
        assert!(
            text.stdout.contains(&format!("entered  {newcomer}")),
            "{}",
            text.stdout
        );

        // Bob may subscribe himself, not run ann's monitor.
        let subscribed = lethe(
            &database,
            &[
                "monitor",
                "subscribe",
                "stale-watch",
                "--as",
                "bob",
                "--json",
            ],
        );
        assert_eq!(subscribed.status, 0, "{}", subscribed.stderr);
        assert_eq!(
            subscribed.json()["monitor"]["subscribers"],
            serde_json::json!(["ann", "bob"])
        );
        let refused = lethe(
            &database,
            &["monitor", "run", "stale-watch", "--as", "bob", "--json"],
        );
        assert_ne!(refused.status, 0);
        assert!(
            refused.error_json()["error"]
                .as_str()
                .unwrap()
                .contains("owner of monitor `stale-watch`")
        );

        // Run now, by its owner: one left.
        lethe(
            &database,
            &[
                "record",
                "update",
                "contact",
                &newcomer.to_string(),
                "last_name=Fresh",
            ],
        );
        let ran = lethe(
            &database,
            &["monitor", "run", "stale-watch", "--as", "ann", "--json"],
        )
        .json();
        assert_eq!(ran["run"]["left"], 1);
        assert_eq!(ran["run"]["notified"], 2);
        let history = lethe(&database, &["monitor", "history", "stale-watch", "--json"]).json();
        assert_eq!(history["runs"].as_array().unwrap().len(), 3);

        let shown = lethe(&database, &["monitor", "show", "stale-watch"]);
        assert!(
            shown.stdout.contains("subscribers: ann, bob"),
            "{}",
            shown.stdout
        );
        let removed = lethe(
            &database,
            &["monitor", "remove", "stale-watch", "--as", "ann"],
        );
        assert_eq!(removed.status, 0, "{}", removed.stderr);
        let listed = lethe(&database, &["monitor", "list", "--json"]).json();
        assert!(listed["monitors"].as_array().unwrap().is_empty());
    }
);
