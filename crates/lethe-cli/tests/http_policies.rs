//! Retention policies over real HTTP against `lethe serve` on both backends (SPEC §4): bad
//! parts are refused with a message naming the part, and nothing is made; a destructive
//! policy is enabled only after a second admin approved it; a run from a dry run trashes
//! exactly the members the dry run counted, though more matching records came since; the
//! runs are listed; plain users are refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::*;

/// Every table a policy route writes, dumped: equal dumps mean nothing changed.
async fn dump(database: &TestDatabase) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for (table, order) in [
        ("lethe_retention_policy", "id"),
        ("lethe_policy_run", "id"),
        ("lethe_snapshot", "id"),
        ("lethe_history", "id"),
        ("lethe_notification", "id"),
    ] {
        all.push(database.dump(table, order).await);
    }
    all
}

fn policy(name: &str) -> Value {
    json!({
        "name": name,
        "entity": "contact",
        "filter": "last_name starts_with \"Dormant\"",
        "action": "trash",
        "schedule": "0 3 * * 1",
        "time_zone": "Europe/Oslo",
        "legal_basis": "leads without reply are kept one year",
    })
}

both_backends!(
    a_policy_is_added_approved_dry_run_and_run_over_http,
    |database: TestDatabase| async move {
        let (_, ann) = add_user(&database, "ann", "admin");
        let (_, bob) = add_user(&database, "bob", "admin");
        let (_, ula) = add_user(&database, "ula", "user");
        let server = TestServer::start(&database);
        for index in 0..3 {
            server
                .create(
                    &ann,
                    "contact",
                    json!({"last_name": format!("Dormant {index}")}),
                )
                .await;
        }

        // Each wrong part is refused with what is wrong, and nothing is written.
        let before = dump(&database).await;
        for (change, status, expected) in [
            (json!({"schedule": "0 3 * *"}), 422, "cron"),
            (
                json!({"time_zone": "Europe/Atlantis"}),
                422,
                "is not a time zone",
            ),
            (
                json!({"filter": "last_name starts_with"}),
                422,
                "the filter: 1:22",
            ),
            (json!({"entity": "planet"}), 404, "planet"),
            (json!({"action": "shred"}), 422, "is not a policy action"),
            (json!({"legal_basis": ""}), 422, "legal basis"),
            (json!({"selection": "nowhere"}), 422, "not both"),
        ] {
            let mut body = policy("wrong");
            for (key, value) in change.as_object().unwrap() {
                body[key] = value.clone();
            }
            let (got, answer) = server.post(Some(&ann), "/api/v1/policies", &body).await;
            assert_eq!(got, status, "{change}: {answer}");
            let text = error_text(got, &answer);
            assert!(text.contains(expected), "{change}: {text}");
        }
        let (got, answer) = server
            .post(Some(&ula), "/api/v1/policies", &policy("mine"))
            .await;
        assert_eq!(got, 403, "{answer}");
        let (got, answer) = server
            .post(Some(&ann), "/api/v1/policies", &json!({"name": "bare"}))
            .await;
        assert_eq!(got, 400, "{answer}");
        assert_eq!(dump(&database).await, before, "a refusal wrote something");

        // Added disabled; ann may not approve her own; bob approves and may not enable.
        let (got, added) = server
            .post(Some(&ann), "/api/v1/policies", &policy("dormant"))
            .await;
        assert_eq!(got, 201, "{added}");
        assert_eq!(added["policy"]["enabled"], false, "{added}");
        assert_eq!(added["policy"]["owner"], "ann", "{added}");
        let (got, refused) = server
            .post(Some(&ann), "/api/v1/policies/dormant/enable", &json!({}))
            .await;
        assert_eq!(got, 409, "{refused}");
        assert!(
            error_text(got, &refused).contains("second admin"),
            "{refused}"
        );
        let (got, refused) = server
            .post(Some(&ann), "/api/v1/policies/dormant/approve", &json!({}))
            .await;
        assert_eq!(got, 403, "{refused}");
        let (got, approved) = server
            .post(Some(&bob), "/api/v1/policies/dormant/approve", &json!({}))
            .await;
        assert_eq!(got, 200, "{approved}");
        assert_eq!(approved["policy"]["approved_by"], "bob", "{approved}");
        let (got, refused) = server
            .post(Some(&bob), "/api/v1/policies/dormant/enable", &json!({}))
            .await;
        assert_eq!(got, 409, "{refused}");
        let (got, enabled) = server
            .post(Some(&ann), "/api/v1/policies/dormant/enable", &json!({}))
            .await;
        assert_eq!(got, 200, "{enabled}");
        assert_eq!(enabled["policy"]["enabled"], true, "{enabled}");
        assert!(enabled["policy"]["next_run_at"].is_string(), "{enabled}");

        // A change takes the approval back and stops it.
        let (got, changed) = server
            .patch(
                Some(&bob),
                "/api/v1/policies/dormant",
                &json!({"legal_basis": "leads without reply are kept eighteen months"}),
            )
            .await;
        assert_eq!(got, 200, "{changed}");
        assert_eq!(changed["policy"]["enabled"], false, "{changed}");
        assert!(changed["policy"]["approved_by"].is_null(), "{changed}");
        let (got, refused) = server
            .patch(
                Some(&bob),
                "/api/v1/policies/dormant",
                &json!({"schedule": "every day"}),
            )
            .await;
        assert_eq!(got, 422, "{refused}");

        // The dry run counts three; a fourth dormant contact comes; the run from the dry run
        // trashes the three it counted.
        let (got, dry) = server
            .post(Some(&ann), "/api/v1/policies/dormant/dry-run", &json!({}))
            .await;
        assert_eq!(got, 201, "{dry}");
        assert_eq!(dry["run"]["kind"], "dry_run", "{dry}");
        assert_eq!(dry["run"]["members"], 3, "{dry}");
        assert!(dry["run"]["job_id"].is_null(), "{dry}");
        server
            .create(&ann, "contact", json!({"last_name": "Dormant late"}))
            .await;
        let dry_run = dry["run"]["id"].as_i64().unwrap();
        let (got, ran) = server
            .post(
                Some(&ann),
                "/api/v1/policies/dormant/run",
                &json!({"from_dry_run": dry_run}),
            )
            .await;
        assert_eq!(got, 201, "{ran}");
        assert_eq!(ran["run"]["dry_run_id"], dry_run, "{ran}");
        assert_eq!(ran["run"]["members"], 3, "{ran}");
        let job = server
            .wait_for_job(&ann, ran["run"]["job_id"].as_i64().unwrap())
            .await;
        assert_eq!(
            (&job["state"], &job["done"]),
            (&json!("done"), &json!(3)),
            "{job}"
        );
        let (got, left) = server
            .get(
                Some(&ann),
                "/api/v1/records/contact/count?filter=last_name%20starts_with%20%22Dormant%22",
            )
            .await;
        assert_eq!(got, 200, "{left}");
        assert_eq!(left["count"], 1, "only the late one is left: {left}");

        // A run from another policy's dry run, or from no dry run at all, is refused.
        let (got, refused) = server
            .post(
                Some(&ann),
                "/api/v1/policies/dormant/run",
                &json!({"from_dry_run": ran["run"]["id"]}),
            )
            .await;
        assert_eq!(got, 422, "{refused}");

        // The runs, newest first; the policy with its latest runs; plain users see none.
        let (got, runs) = server
            .get(Some(&ann), "/api/v1/policies/dormant/runs?limit=10")
            .await;
        assert_eq!(got, 200, "{runs}");
        let kinds: Vec<&str> = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["run", "dry_run"]);
        let (got, shown) = server.get(Some(&bob), "/api/v1/policies/dormant").await;
        assert_eq!(got, 200, "{shown}");
        assert_eq!(shown["runs"].as_array().unwrap().len(), 2, "{shown}");
        let (got, listed) = server.get(Some(&ann), "/api/v1/policies").await;
        assert_eq!(got, 200, "{listed}");
        assert_eq!(listed["policies"].as_array().unwrap().len(), 1, "{listed}");
        for path in ["/api/v1/policies", "/api/v1/policies/dormant"] {
            let (got, answer) = server.get(Some(&ula), path).await;
            assert_eq!(got, 403, "{path}: {answer}");
        }
        let (got, answer) = server.get(Some(&ann), "/api/v1/policies/nothing").await;
        assert_eq!(got, 404, "{answer}");
        // A NUL in the path (found by the fuzz test): refused, and nothing reaches the
        // database, which cannot hold one.
        let (got, answer) = server
            .post(Some(&ann), "/api/v1/policies/%00/approve", &json!({}))
            .await;
        assert_eq!(got, 400, "{answer}");
        assert!(error_text(got, &answer).contains("NUL"), "{answer}");
    }
);
