//! `lethe policy` as an administrator runs it, on both backends: the seed's policies come
//! with `lethe migrate`, disabled; a bad schedule, time zone or filter is refused where it
//! was given and nothing is made; a dry run lists what a run would do and the run from it
//! does exactly that; four eyes before a destructive policy runs on its own; a plain user is
//! refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{TestDatabase, add_user, both_backends, lethe};

fn add_args<'a>(name: &'a str, schedule: &'a str, zone: &'a str) -> Vec<&'a str> {
    vec![
        "policy",
        "add",
        name,
        "--entity",
        "contact",
        "--filter",
        "category = \"lost\"",
        "--action",
        "trash",
        "--schedule",
        schedule,
        "--time-zone",
        zone,
        "--legal-basis",
        "lost customers are kept five years",
        "--json",
    ]
}

both_backends!(
    policies_are_added_checked_dry_run_and_run_from_the_command_line,
    |database: TestDatabase| async move {
        lethe(&database, &["migrate"]);
        let listed = lethe(&database, &["policy", "list", "--json"]).json();
        let names: Vec<&str> = listed["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|policy| policy["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["lost-customers-5y", "prospects-3y"]);
        assert!(
            listed["policies"]
                .as_array()
                .unwrap()
                .iter()
                .all(|policy| policy["enabled"] == false)
        );

        // Wrong parts are refused where they were given, and nothing is made.
        for (schedule, zone, expected) in [
            ("0 3 * *", "UTC", "is not a cron schedule"),
            ("0 3 * * *", "Europe/Nowhere", "is not a time zone"),
        ] {
            let run = lethe(&database, &add_args("lost", schedule, zone));
            assert_eq!(run.status, 2, "{}", run.stderr);
            let error = run.error_json();
            assert!(
                error["error"].as_str().unwrap().contains(expected),
                "{error}"
            );
        }
        let listed = lethe(&database, &["policy", "list", "--json"]).json();
        assert_eq!(listed["policies"].as_array().unwrap().len(), 2);

        // Three lost customers, one of them held by a deal.
        for name in ["A", "B", "C"] {
            lethe(
                &database,
                &[
                    "record",
                    "create",
                    "contact",
                    &format!("last_name={name}"),
                    "category=lost",
                ],
            );
        }
        let held = lethe(
            &database,
            &["select", "contact", "last_name = \"A\"", "--json"],
        )
        .json();
        let held_id = held["records"][0]["id"].as_i64().unwrap();
        lethe(
            &database,
            &[
                "record",
                "create",
                "deal",
                &format!("contact_id={held_id}"),
                "title=renewal",
            ],
        );
        let added = lethe(&database, &add_args("lost", "0 3 * * *", "Europe/Oslo")).json();
        assert_eq!(added["policy"]["enabled"], false);

        let dry = lethe(&database, &["policy", "dry-run", "lost", "--json"]).json();
        let dry_run = &dry["run"];
        assert_eq!(dry_run["members"], 3);
        assert_eq!(dry_run["counts"]["blocked"], 1);
        let id = dry_run["id"].as_i64().unwrap();
        // In words: the records per entity type it would trash (none of the types it would
        // not touch), and the blocked one with its reason.
        let history = lethe(&database, &["policy", "history", "lost"]);
        assert_eq!(history.status, 0, "{}", history.stderr);
        let said: Vec<&str> = history.stdout.lines().map(str::trim).collect();
        assert!(said.contains(&"contact        2"), "{}", history.stdout);
        assert!(
            !said.iter().any(|line| line.ends_with(" 0")),
            "{}",
            history.stdout
        );
        assert!(
            history.stdout.contains("blocked by a rule: 1"),
            "{}",
            history.stdout
        );
        let ran = lethe(
            &database,
            &[
                "policy",
                "run",
                "lost",
                "--from-dry-run",
                &id.to_string(),
                "--yes",
                "--json",
            ],
        )
        .json();
        assert_eq!(ran["run"]["snapshot_id"], dry_run["snapshot_id"]);
        assert_eq!(ran["job"]["state"], "done");
        assert_eq!(ran["job"]["counts"]["contact"], 2);
        assert_eq!(ran["job"]["blocked"], 1);
        let history = lethe(&database, &["policy", "history", "lost", "--json"]).json();
        assert_eq!(history["runs"].as_array().unwrap().len(), 2);

        // Enabling waits for a second admin.
        let refused = lethe(&database, &["policy", "enable", "lost", "--json"]);
        assert_ne!(refused.status, 0);
        assert!(
            refused.error_json()["error"]
                .as_str()
                .unwrap()
                .contains("second admin"),
            "{}",
            refused.stderr
        );
        add_user(&database, "bob", "admin");
        lethe(&database, &["policy", "approve", "lost", "--as", "bob"]);
        let enabled = lethe(&database, &["policy", "enable", "lost", "--json"]).json();
        assert_eq!(enabled["policy"]["enabled"], true);
        assert!(enabled["policy"]["next_run_at"].is_string());

        // A plain user may not touch policies.
        add_user(&database, "ula", "user");
        let refused = lethe(&database, &["policy", "list", "--as", "ula", "--json"]);
        assert_eq!(refused.error_json()["code"], "forbidden");
    }
);
