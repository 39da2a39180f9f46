//! Purge, anonymise and bulk update over HTTP — a purge request that waits for its grace
//! period and is cancelled, one that runs when due and erases, anonymisation, bulk update with
//! its preview, permissions and bad input — driven over real HTTP against `lethe serve` on a
//! random port, on SQLite and PostgreSQL.
//!
//! The server runs with a short grace period (`LETHE_PURGE_GRACE=2s`,
//! `LETHE_PURGE_MIN_GRACE=1s`) so that its own job worker runs a purge within seconds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::*;

/// A running `lethe serve` with a short purge grace period, so its own job worker runs a purge
/// within seconds.
fn start_server(database: &TestDatabase) -> TestServer {
    TestServer::start_with_env(
        database,
        &[("LETHE_PURGE_GRACE", "2s"), ("LETHE_PURGE_MIN_GRACE", "1s")],
    )
}

async fn record(server: &TestServer, token: &str, entity: &str, id: i64) -> (u16, Value) {
    server
        .get(Some(token), &format!("/api/v1/records/{entity}/{id}"))
        .await
}

/// The ids of the records of `entity` in `scope`, ascending.
async fn ids(server: &TestServer, token: &str, entity: &str, scope: &str) -> Vec<i64> {
    let (status, page) = server
        .get(
            Some(token),
            &format!("/api/v1/records/{entity}?limit=1000&scope={scope}"),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["id"].as_i64().unwrap())
        .collect()
}

/// Trashes `ids` of `entity` and returns the deletion batch.
async fn trash(server: &TestServer, admin: &str, entity: &str, ids: &[i64]) -> i64 {
    let snapshot_id = server
        .snapshot(admin, json!({"entity": entity, "include": ids}))
        .await;
    let job = server
        .accepted(admin, "/api/v1/trash", &json!({"snapshot_id": snapshot_id}))
        .await;
    let job = server
        .wait_for_job(admin, job["id"].as_i64().unwrap())
        .await;
    job["batch_id"].as_i64().unwrap()
}

async fn history_actions(server: &TestServer, admin: &str) -> Vec<String> {
    let (status, body) = server.get(Some(admin), "/api/v1/history?limit=1000").await;
    assert_eq!(status, 200, "{body}");
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap().to_owned())
        .collect()
}

/// The kinds of the notifications `token`'s user has about `job`.
async fn notification_kinds(server: &TestServer, token: &str, job: i64) -> Vec<String> {
    let (status, feed) = server.get(Some(token), "/api/v1/notifications").await;
    assert_eq!(status, 200, "{feed}");
    feed["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|notification| notification["job_id"] == job)
        .map(|notification| notification["kind"].as_str().unwrap().to_owned())
        .collect()
}

both_backends!(
    a_purge_waits_for_its_grace_then_erases_and_anonymises_links,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let (_, second_admin) = add_user(&database, "second", "admin");
        let (_, clerk) = add_user(&database, "clerk", "user");
        let server = start_server(&database);
        let token = admin.as_str();

        let ann = server
            .create(
                token,
                "contact",
                json!({"first_name": "Ann", "last_name": "Erased", "email": "ann@example.com"}),
            )
            .await;
        let bob = server
            .create(token, "contact", json!({"last_name": "Kept"}))
            .await;
        let ann_note = server
            .create(
                token,
                "note",
                json!({"contact_id": ann, "body": "Ann's secret"}),
            )
            .await;
        let ann_ticket = server
            .create(
                token,
                "ticket",
                json!({"contact_id": ann, "subject": "Ann's problem"}),
            )
            .await;
        let bob_ticket = server
            .create(
                token,
                "ticket",
                json!({"contact_id": bob, "subject": "Bob's problem"}),
            )
            .await;
        // Ann wrote a comment on Bob's ticket: it stays, anonymised.
        let comment = server
            .create(
                token,
                "ticket_comment",
                json!({"ticket_id": bob_ticket, "contact_id": ann, "body": "Ann says hello"}),
            )
            .await;
        let batch = trash(&server, token, "contact", &[ann]).await;

        // The preview says what the purge would erase and rewrite.
        let (status, preview) = server
            .get(
                Some(token),
                &format!("/api/v1/batches/{batch}/purge/preview"),
            )
            .await;
        assert_eq!(status, 200, "{preview}");
        assert_eq!(preview["operation"], "purge");
        assert_eq!(preview["acted_on"][0]["entity"], "contact");
        assert_eq!(preview["acted_on"][0]["records"], 1);
        assert!(
            preview["rewritten"]
                .as_array()
                .unwrap()
                .iter()
                .any(|count| count["entity"] == "ticket_comment" && count["records"] == 1),
            "{preview}"
        );

        // Only admins purge; a grace below the minimum is refused. Nothing was requested.
        let (status, body) = server
            .post(
                Some(&clerk),
                &format!("/api/v1/batches/{batch}/purge"),
                &json!({}),
            )
            .await;
        let message = error_text(status, &body);
        assert_eq!(status, 403, "{body}");
        assert!(message.contains("admins only"), "{message}");
        let (status, body) = server
            .post(
                Some(token),
                &format!("/api/v1/batches/{batch}/purge"),
                &json!({"grace_seconds": 0}),
            )
            .await;
        let message = error_text(status, &body);
        assert_eq!(status, 422, "{body}");
        assert!(
            message.contains("at least 1 s (the configured minimum)"),
            "{message}"
        );
        let (status, purges) = server.get(Some(token), "/api/v1/purges").await;
        assert_eq!(status, 200, "{purges}");
        assert_eq!(purges["purges"], json!([]), "{purges}");
        assert_eq!(purges["default_grace_seconds"], 2, "{purges}");
        assert_eq!(purges["minimum_grace_seconds"], 1, "{purges}");
        assert_eq!(purges["retention_seconds"], 30 * 24 * 3600, "{purges}");

        // The request: pending with the default grace, not started by the handler.
        let job = server
            .accepted(
                token,
                &format!("/api/v1/batches/{batch}/purge"),
                &json!({"reason": "erasure request", "batch_size": 10}),
            )
            .await;
        let job_id = job["id"].as_i64().unwrap();
        assert_eq!(job["kind"], "purge", "{job}");
        assert_eq!(job["state"], "pending", "{job}");
        assert_eq!(job["batch_id"], batch, "{job}");
        assert_eq!(job["reason"], "erasure request", "{job}");
        assert_eq!(job["batch_size"], 10, "{job}");
        assert!(job["not_before"].is_string(), "{job}");
        let (_, purges) = server.get(Some(&clerk), "/api/v1/purges").await;
        assert_eq!(purges["purges"][0]["id"], job_id, "{purges}");
        let (_, listed) = server
            .get(Some(token), &format!("/api/v1/batches/{batch}"))
            .await;
        assert!(
            ["purge_pending", "purged"].contains(&listed["state"].as_str().unwrap()),
            "{listed}"
        );

        // The server's worker runs it once the grace has passed.
        let job = server.wait_for_job(token, job_id).await;
        assert_eq!(job["counts"]["contact"], 1, "{job}");
        assert_eq!(job["counts"]["note"], 1, "{job}");
        assert_eq!(job["counts"]["ticket"], 1, "{job}");
        assert_eq!(job["rewritten"]["ticket_comment"], 1, "{job}");
        assert!(job["receipt"].is_object(), "an erasure receipt: {job}");
        let (_, listed) = server
            .get(Some(token), &format!("/api/v1/batches/{batch}"))
            .await;
        assert_eq!(listed["state"], "purged", "{listed}");
        let (_, purges) = server.get(Some(token), "/api/v1/purges").await;
        assert_eq!(purges["purges"], json!([]), "{purges}");

        // Erased, and not in the trash either.
        for (entity, id) in [("contact", ann), ("note", ann_note), ("ticket", ann_ticket)] {
            let (status, body) = record(&server, token, entity, id).await;
            let message = error_text(status, &body);
            assert_eq!(status, 404, "{entity} {id}: {body}");
            assert!(message.contains("does not exist"), "{message}");
        }
        assert!(!ids(&server, token, "contact", "all").await.contains(&ann));
        // What others own stays; Ann's comment now points at the "Deleted User".
        let (status, _) = record(&server, token, "contact", bob).await;
        assert_eq!(status, 200);
        let (status, _) = record(&server, token, "ticket", bob_ticket).await;
        assert_eq!(status, 200);
        let (status, kept) = record(&server, token, "ticket_comment", comment).await;
        assert_eq!(status, 200, "{kept}");
        assert_eq!(kept["contact_id"], 0, "{kept}");
        assert_eq!(kept["ticket_id"], bob_ticket, "{kept}");
        assert_eq!(kept["body"], "[comment by a deleted user]", "{kept}");

        // Every admin heard of the request and of the execution; the user heard nothing.
        for who in [token, second_admin.as_str()] {
            let kinds = notification_kinds(&server, who, job_id).await;
            assert!(kinds.contains(&"purge_requested".to_owned()), "{kinds:?}");
            assert!(kinds.contains(&"purge_executed".to_owned()), "{kinds:?}");
        }
        assert!(notification_kinds(&server, &clerk, job_id).await.is_empty());

        // The history has it, and holds no personal data of Ann.
        let actions = history_actions(&server, token).await;
        for action in ["purge.requested", "purge.batch", "purge.executed"] {
            assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
        }
        let (_, history) = server.get(Some(token), "/api/v1/history?limit=1000").await;
        let text = history.to_string();
        for secret in ["ann@example.com", "Ann's secret", "Ann says hello"] {
            assert!(!text.contains(secret), "history holds {secret}");
        }
        let (_, verification) = server.get(Some(token), "/api/v1/history/verify").await;
        assert_eq!(verification["intact"], true, "{verification}");

        // A purged batch cannot be purged again.
        let (status, body) = server
            .post(
                Some(token),
                &format!("/api/v1/batches/{batch}/purge"),
                &json!({}),
            )
            .await;
        let message = error_text(status, &body);
        assert_eq!(status, 409, "{body}");
        assert!(message.contains("already been purged"), "{message}");
    }
);

both_backends!(
    a_pending_purge_can_be_cancelled_once_and_the_batch_stays_in_the_trash,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let (_, second_admin) = add_user(&database, "second", "admin");
        let (_, clerk) = add_user(&database, "clerk", "user");
        let server = start_server(&database);
        let token = admin.as_str();
        let ann = server
            .create(token, "contact", json!({"last_name": "Ann"}))
            .await;
        let note = server
            .create(token, "note", json!({"contact_id": ann, "body": "n"}))
            .await;
        let batch = trash(&server, token, "contact", &[ann]).await;

        // An hour of grace: the worker leaves it alone.
        let job = server
            .accepted(
                token,
                &format!("/api/v1/batches/{batch}/purge"),
                &json!({"grace_seconds": 3600}),
            )
            .await;
        let job_id = job["id"].as_i64().unwrap();
        assert_eq!(job["state"], "pending", "{job}");
        let (_, listed) = server
            .get(Some(token), &format!("/api/v1/batches/{batch}"))
            .await;
        assert_eq!(listed["state"], "purge_pending", "{listed}");
        // A second request for the same batch is a conflict.
        let (status, body) = server
            .post(
                Some(token),
                &format!("/api/v1/batches/{batch}/purge"),
                &json!({"grace_seconds": 3600}),
            )
            .await;
        let message = error_text(status, &body);
        assert_eq!(status, 409, "{body}");
        assert!(message.contains("already pending"), "{message}");

        // A user may not cancel; any admin may.
        let cancel = format!("/api/v1/purges/{job_id}/cancel");
        let (status, body) = server.post(Some(&clerk), &cancel, &json!({})).await;
        let message = error_text(status, &body);
        assert_eq!(status, 403, "{body}");
        assert!(message.contains("admin"), "{message}");
        let (status, cancelled) = server.post(Some(&second_admin), &cancel, &json!({})).await;
        assert_eq!(status, 200, "{cancelled}");
        assert_eq!(cancelled["id"], job_id, "{cancelled}");
        assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
        let (_, listed) = server
            .get(Some(token), &format!("/api/v1/batches/{batch}"))
            .await;
        assert_eq!(listed["state"], "trashed", "{listed}");
        let (_, purges) = server.get(Some(token), "/api/v1/purges").await;
        assert_eq!(purges["purges"], json!([]), "{purges}");
        for (entity, id) in [("contact", ann), ("note", note)] {
            let (status, body) = record(&server, token, entity, id).await;
            let message = error_text(status, &body);
            assert_eq!(status, 409, "{body}");
            assert!(message.contains("in the trash"), "{message}");
            assert_eq!(ids(&server, token, entity, "trashed").await, vec![id]);
        }

        // Twice is a conflict that says why.
        let (status, body) = server.post(Some(token), &cancel, &json!({})).await;
        let message = error_text(status, &body);
        assert_eq!(status, 409, "{body}");
        assert!(message.contains("already cancelled"), "{message}");
        assert!(
            notification_kinds(&server, token, job_id)
                .await
                .contains(&"purge_cancelled".to_owned())
        );
        let actions = history_actions(&server, token).await;
        assert!(
            actions.iter().any(|a| a == "purge.cancelled"),
            "{actions:?}"
        );
        assert!(
            !actions.iter().any(|a| a == "purge.executed"),
            "{actions:?}"
        );

        // Bad requests: clear errors, nothing requested.
        let jobs_before = server.job_count(token).await;
        let trash_job = {
            let (_, jobs) = server.get(Some(token), "/api/v1/jobs?limit=1000").await;
            jobs["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|job| job["kind"] == "trash")
                .unwrap()["id"]
                .as_i64()
                .unwrap()
        };
        let purge = format!("/api/v1/batches/{batch}/purge");
        let cases: Vec<(String, Value, u16, &str)> = vec![
            (
                purge.clone(),
                json!({"grace_seconds": -1}),
                400,
                "grace_seconds must be between 0 and",
            ),
            (
                purge.clone(),
                json!({"grace_seconds": 999_999_999_999_i64}),
                400,
                "grace_seconds must be between 0 and",
            ),
            (
                purge.clone(),
                json!({"grace_seconds": "2d"}),
                400,
                "invalid type",
            ),
            (
                purge.clone(),
                json!({"grace": 3600}),
                400,
                "unknown field `grace`",
            ),
            (
                purge.clone(),
                json!({"batch_size": 0}),
                422,
                "batch size must be between 1 and",
            ),
            (
                purge.clone(),
                json!({"reason": "x".repeat(1_001)}),
                400,
                "longer than 1000 characters",
            ),
            (
                "/api/v1/batches/999999/purge".into(),
                json!({}),
                404,
                "deletion batch 999999 does not exist",
            ),
            (
                "/api/v1/batches/abc/purge".into(),
                json!({}),
                400,
                "bad path",
            ),
            (
                "/api/v1/purges/999999/cancel".into(),
                json!({}),
                404,
                "job 999999 does not exist",
            ),
            (
                format!("/api/v1/purges/{trash_job}/cancel"),
                json!({}),
                409,
                "not a purge",
            ),
        ];
        for (path, body, expected, needle) in &cases {
            let (status, answer) = server.post(Some(token), path, body).await;
            let message = error_text(status, &answer);
            assert_eq!(status, *expected, "{path} {body}: {answer}");
            assert!(
                message.contains(needle),
                "{path} {body}: `{message}` lacks `{needle}`"
            );
        }
        assert_eq!(server.job_count(token).await, jobs_before);
        let (_, listed) = server
            .get(Some(token), &format!("/api/v1/batches/{batch}"))
            .await;
        assert_eq!(listed["state"], "trashed", "{listed}");
        for path in ["/api/v1/purges"] {
            let (status, _) = server.get(None, path).await;
            assert_eq!(status, 401, "{path}");
        }
        let (status, _) = server.post(None, &purge, &json!({})).await;
        assert_eq!(status, 401);

        // The batch can be requested again, now that the old request is cancelled.
        let again = server
            .accepted(token, &purge, &json!({"grace_seconds": 3600}))
            .await;
        assert_eq!(again["state"], "pending", "{again}");
        assert_ne!(again["id"], job_id);
    }
);

both_backends!(
    anonymising_a_snapshot_overwrites_personal_fields_and_keeps_the_records,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let (_, clerk) = add_user(&database, "clerk", "user");
        let server = start_server(&database);
        let token = admin.as_str();
        let eve = server.create(token,
            "contact",
            json!({"first_name": "Eve", "last_name": "Adams", "email": "eve@example.com", "phone": "+1 555 0100", "category": "customer"}),
        )
        .await;
        let max = server.create(token,
            "contact",
            json!({"first_name": "Max", "last_name": "Brown", "email": "max@example.com", "job_title": "CTO"}),
        )
        .await;
        let kept = server
            .create(
                token,
                "contact",
                json!({"first_name": "Kim", "last_name": "Other", "email": "kim@example.com"}),
            )
            .await;
        let both = server
            .snapshot(token, json!({"entity": "contact", "include": [eve, max]}))
            .await;

        // More than one record: admins only.
        let (status, body) = server
            .post(
                Some(&clerk),
                "/api/v1/anonymize",
                &json!({"snapshot_id": both}),
            )
            .await;
        let message = error_text(status, &body);
        assert_eq!(status, 403, "{body}");
        assert!(message.contains("admin"), "{message}");
        assert_eq!(server.job_count(token).await, 0);

        let job = server
            .accepted(
                token,
                "/api/v1/anonymize",
                &json!({"snapshot_id": both, "batch_size": 1}),
            )
            .await;
        assert_eq!(job["kind"], "anonymize", "{job}");
        assert_eq!(job["total"], 2, "{job}");
        let job = server
            .wait_for_job(token, job["id"].as_i64().unwrap())
            .await;
        assert_eq!(job["rewritten"]["contact"], 2, "{job}");

        for id in [eve, max] {
            let (status, contact) = record(&server, token, "contact", id).await;
            assert_eq!(status, 200, "the record stays: {contact}");
            let email = contact["email"].as_str().unwrap();
            assert!(email.starts_with("hash:"), "{contact}");
            assert!(!email.contains("example.com"), "{contact}");
            assert_eq!(contact["first_name"], "Deleted", "{contact}");
            assert_eq!(contact["last_name"], "User", "{contact}");
            assert!(contact["phone"].is_null(), "{contact}");
            assert!(contact["job_title"].is_null(), "{contact}");
        }
        let (_, eve_now) = record(&server, token, "contact", eve).await;
        assert_eq!(eve_now["category"], "customer", "not personal: kept");
        let (_, kim) = record(&server, token, "contact", kept).await;
        assert_eq!(kim["email"], "kim@example.com", "{kim}");
        let actions = history_actions(&server, token).await;
        assert!(
            actions.iter().any(|a| a == "anonymize.executed"),
            "{actions:?}"
        );

        // Bad bodies.
        for (body, expected, needle) in [
            (json!({}), 400, "missing field `snapshot_id`"),
            (
                json!({"snapshot_id": both, "reason": "x"}),
                400,
                "unknown field `reason`",
            ),
            (
                json!({"snapshot_id": 999_999}),
                404,
                "snapshot 999999 does not exist",
            ),
            (
                json!({"snapshot_id": both, "batch_size": 0}),
                422,
                "batch size",
            ),
        ] {
            let (status, answer) = server.post(Some(token), "/api/v1/anonymize", &body).await;
            let message = error_text(status, &answer);
            assert_eq!(status, expected, "{body}: {answer}");
            assert!(
                message.contains(needle),
                "{body}: `{message}` lacks `{needle}`"
            );
        }
        assert_eq!(server.job_count(token).await, 1);
    }
);

both_backends!(
    a_bulk_update_is_previewed_checked_and_run_by_admins_only,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let (_, clerk) = add_user(&database, "clerk", "user");
        let server = start_server(&database);
        let token = admin.as_str();
        let mut prospects = Vec::new();
        for name in ["P1", "P2", "P3"] {
            prospects.push(
                server
                    .create(
                        token,
                        "contact",
                        json!({"last_name": name, "category": "prospect"}),
                    )
                    .await,
            );
        }
        let customer = server
            .create(
                token,
                "contact",
                json!({"last_name": "C", "category": "customer", "legal_basis": "contract"}),
            )
            .await;
        let gone_company = server
            .create(token, "company", json!({"name": "Gone"}))
            .await;
        let first_company = server.create(token, "company", json!({"name": "A"})).await;
        let second_company = server.create(token, "company", json!({"name": "B"})).await;
        trash(&server, token, "company", &[gone_company]).await;
        let selection = server.snapshot(token,
            json!({"entity": "contact", "filter": "category = \"prospect\"", "all_matching": true}),
        )
        .await;
        let consent = json!({"legal_basis": "consent"});
        let legal_bases = async || {
            let mut bases = Vec::new();
            for id in prospects.iter().chain([&customer]) {
                let (status, contact) = record(&server, token, "contact", *id).await;
                assert_eq!(status, 200, "{contact}");
                bases.push(contact["legal_basis"].as_str().unwrap().to_owned());
            }
            bases
        };
        let untouched = vec!["none", "none", "none", "contract"];
        let history_before = history_actions(&server, token).await.len();
        let jobs_before = server.job_count(token).await;

        // The preview counts what would change and writes nothing.
        let (status, preview) = server
            .post(
                Some(token),
                "/api/v1/update/preview",
                &json!({"snapshot_id": selection, "changes": consent}),
            )
            .await;
        assert_eq!(status, 200, "{preview}");
        assert_eq!(preview["operation"], "update", "{preview}");
        assert_eq!(preview["entity"], "contact", "{preview}");
        assert_eq!(preview["snapshot_id"], selection, "{preview}");
        assert_eq!(preview["members"], 3, "{preview}");
        assert_eq!(preview["not_applicable"], 0, "{preview}");
        assert_eq!(
            preview["acted_on"],
            json!([{"entity": "contact", "records": 3}]),
            "{preview}"
        );
        assert_eq!(legal_bases().await, untouched);

        // A user may not update several records at once.
        let (status, body) = server
            .post(
                Some(&clerk),
                "/api/v1/update",
                &json!({"snapshot_id": selection, "changes": consent}),
            )
            .await;
        let message = error_text(status, &body);
        assert_eq!(status, 403, "{body}");
        assert!(message.contains("only an admin"), "{message}");

        // Bad changes: clear errors saying what and where, for the preview and the update.
        let companies = server
            .snapshot(
                token,
                json!({"entity": "company", "include": [first_company, second_company]}),
            )
            .await;
        let cases: Vec<(i64, Value, u16, Vec<&str>)> = vec![
            (
                selection,
                json!({"legal_bases": "consent"}),
                422,
                vec![
                    "unknown field `legal_bases` on contact",
                    "did you mean `legal_basis`?",
                ],
            ),
            (
                selection,
                json!({"legal_basis": "maybe"}),
                422,
                vec!["contact.legal_basis", "maybe"],
            ),
            (
                selection,
                json!({"legal_basis": 3}),
                422,
                vec!["contact.legal_basis"],
            ),
            (
                selection,
                json!({"category": null}),
                422,
                vec!["contact.category", "required and cannot be cleared"],
            ),
            (
                selection,
                json!({"id": 5}),
                422,
                vec!["`id` is managed by Lethe"],
            ),
            (selection, json!({}), 422, vec!["no field to change"]),
            (
                selection,
                json!("legal_basis=consent"),
                400,
                vec!["changes must be a JSON object of field values"],
            ),
            (
                selection,
                json!([consent]),
                400,
                vec!["changes must be a JSON object", "an array"],
            ),
            (
                companies,
                json!({"org_number": "123"}),
                422,
                vec!["company.org_number", "is unique"],
            ),
            (
                999_999,
                consent.clone(),
                404,
                vec!["snapshot 999999 does not exist"],
            ),
        ];
        for path in ["/api/v1/update/preview", "/api/v1/update"] {
            for (snapshot_id, changes, expected, needles) in &cases {
                let body = json!({"snapshot_id": snapshot_id, "changes": changes});
                let (status, answer) = server.post(Some(token), path, &body).await;
                let message = error_text(status, &answer);
                assert_eq!(status, *expected, "{path} {body}: {answer}");
                for needle in needles {
                    assert!(
                        message.contains(needle),
                        "{path} {body}: `{message}` lacks `{needle}`"
                    );
                }
            }
            for (body, needle) in [
                (json!({"snapshot_id": selection}), "missing field `changes`"),
                (json!({"changes": consent}), "missing field `snapshot_id`"),
                (
                    json!({"snapshot_id": selection, "changes": consent, "confirm": true}),
                    "unknown field `confirm`",
                ),
            ] {
                let (status, answer) = server.post(Some(token), path, &body).await;
                let message = error_text(status, &answer);
                assert_eq!(status, 400, "{path} {body}: {answer}");
                assert!(
                    message.contains(needle),
                    "{path} {body}: `{message}` lacks `{needle}`"
                );
            }
        }
        let (status, answer) = server
            .post(
                Some(token),
                "/api/v1/update/preview",
                &json!({"snapshot_id": selection, "changes": consent, "batch_size": 5}),
            )
            .await;
        assert_eq!(status, 400, "the preview takes no batch size: {answer}");
        // A link to a trashed record: nothing new may point at the trash (checked on confirm).
        let (status, answer) = server
            .post(
                Some(token),
                "/api/v1/update",
                &json!({"snapshot_id": selection, "changes": {"company_id": gone_company}}),
            )
            .await;
        let message = error_text(status, &answer);
        assert_eq!(status, 409, "{answer}");
        assert!(message.contains("contact.company_id"), "{message}");
        assert!(message.contains("in the trash"), "{message}");
        assert_eq!(legal_bases().await, untouched, "nothing changed");
        assert_eq!(
            server.job_count(token).await,
            jobs_before,
            "no job was made"
        );
        assert_eq!(history_actions(&server, token).await.len(), history_before);

        // The update itself.
        let job = server
            .accepted(
                token,
                "/api/v1/update",
                &json!({"snapshot_id": selection, "changes": consent, "batch_size": 2}),
            )
            .await;
        assert_eq!(job["kind"], "update", "{job}");
        assert_eq!(job["total"], 3, "{job}");
        assert_eq!(job["batch_size"], 2, "{job}");
        let job = server
            .wait_for_job(token, job["id"].as_i64().unwrap())
            .await;
        assert_eq!(job["rewritten"]["contact"], 3, "{job}");
        assert_eq!(job["skipped"], 0, "{job}");
        assert_eq!(
            legal_bases().await,
            vec!["consent", "consent", "consent", "contract"]
        );
        let actions = history_actions(&server, token).await;
        for action in ["update.requested", "update.batch", "update.executed"] {
            assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
        }
        let (status, body) = server.get(Some(&clerk), "/api/v1/history").await;
        assert_eq!(status, 403, "{body}");

        // One record is not a bulk operation: a user may update it.
        let one = server
            .snapshot(&clerk, json!({"entity": "contact", "include": [customer]}))
            .await;
        let job = server
            .accepted(
                &clerk,
                "/api/v1/update",
                &json!({"snapshot_id": one, "changes": {"legal_basis": "legitimate_interest"}}),
            )
            .await;
        server
            .wait_for_job(&clerk, job["id"].as_i64().unwrap())
            .await;
        assert_eq!(
            legal_bases().await,
            vec!["consent", "consent", "consent", "legitimate_interest"]
        );
    }
);

both_backends!(
    the_openapi_document_describes_purge_anonymise_and_update,
    |database: TestDatabase| async move {
        let server = start_server(&database);
        let (status, document) = server.get(None, "/api/v1/openapi.json").await;
        assert_eq!(status, 200);
        for (path, method, success, has_body) in [
            ("/api/v1/batches/{id}/purge", "post", "202", true),
            ("/api/v1/purges", "get", "200", false),
            ("/api/v1/purges/{id}/cancel", "post", "200", false),
            ("/api/v1/anonymize", "post", "202", true),
            ("/api/v1/update/preview", "post", "200", true),
            ("/api/v1/update", "post", "202", true),
        ] {
            let operation = &document["paths"][path][method];
            assert!(operation["operationId"].is_string(), "{path} {method}");
            let response =
                &operation["responses"][success]["content"]["application/json"]["schema"];
            assert!(response.is_object(), "{path} {method}: no {success} schema");
            assert!(
                operation["responses"]["401"].is_object(),
                "{path} {method}: no 401"
            );
            if has_body {
                let body = &operation["requestBody"]["content"]["application/json"]["schema"];
                assert_eq!(body["additionalProperties"], false, "{path}");
            }
        }
        let job = &document["components"]["schemas"]["Job"];
        for field in ["rewritten", "not_before", "receipt"] {
            assert!(job["properties"][field].is_object(), "Job.{field}");
        }
        // A job's kind and state are components of their own, derived from JobKind and
        // JobState: an `enum`, or a `oneOf` of documented `const`s.
        let values = |property: &str| -> Vec<Value> {
            let reference = job["properties"][property]["$ref"].as_str().unwrap();
            let name = reference.trim_start_matches("#/components/schemas/");
            let schema = &document["components"]["schemas"][name];
            match schema["enum"].as_array() {
                Some(values) => values.clone(),
                None => schema["oneOf"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|variant| {
                        let listed = variant["enum"].as_array().cloned().unwrap_or_default();
                        listed.into_iter().chain(Some(variant["const"].clone()))
                    })
                    .collect(),
            }
        };
        let kinds = values("kind");
        for kind in ["purge", "anonymize", "update"] {
            assert!(kinds.contains(&json!(kind)), "{kind}");
        }
        let states = values("state");
        for state in ["pending", "cancelled"] {
            assert!(states.contains(&json!(state)), "{state}");
        }
        let purges = &document["paths"]["/api/v1/purges"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["properties"];
        for field in [
            "purges",
            "default_grace_seconds",
            "minimum_grace_seconds",
            "retention_seconds",
        ] {
            assert!(purges[field].is_object(), "{field}");
        }
    }
);

/// Another SQLite client (a backup tool, the `sqlite3` shell) opening and closing the
/// database while `lethe serve` runs must find the server's locks in place: a client that
/// finds none takes itself for the last connection and removes the write-ahead log the
/// server still writes to, so that later writes are lost at the next start. The erasure
/// scan reads the database file; on Linux a process that closes any handle on a file drops
/// every lock it holds on it, so the scan must never open the live file in the server.
#[tokio::test]
async fn a_served_purge_leaves_the_servers_locks_so_another_sqlite_client_loses_nothing() {
    let database = TestDatabase::sqlite();
    let (_, admin) = add_user(&database, "admin", "admin");
    let mut server = TestServer::start_with_env(&database, &[("LETHE_PURGE_MIN_GRACE", "0s")]);
    let token = admin.as_str();
    let wal = std::path::PathBuf::from(format!("{}-wal", database.url));

    let erased = server
        .create(
            token,
            "contact",
            json!({"last_name": "Erased", "email": "someone.erased@example.com"}),
        )
        .await;
    server
        .create(
            token,
            "note",
            json!({"contact_id": erased, "body": "a note long enough to be looked for"}),
        )
        .await;
    // A client that stays open across the purge, and one that comes and goes after it.
    assert!(other_sqlite_client(&database.url, "SELECT COUNT(*) FROM contact") >= 1);
    let batch = trash(&server, token, "contact", &[erased]).await;
    let job = server
        .accepted(
            token,
            &format!("/api/v1/batches/{batch}/purge"),
            &json!({"grace_seconds": 0}),
        )
        .await;
    let job = server
        .wait_for_job(token, job["id"].as_i64().unwrap())
        .await;
    let scan = &job["receipt"]["database"]["scan"];
    assert!(
        scan["values_checked"].as_u64().unwrap() >= 1,
        "the scan ran: {job}"
    );
    assert_eq!(
        database
            .scalar("SELECT COUNT(*) FROM contact WHERE id > 0")
            .await,
        0
    );
    assert!(wal.exists(), "the server's write-ahead log is still there");

    // Written after the other client came and went: must survive a hard stop and a start.
    let kept = server
        .create(token, "contact", json!({"last_name": "Written after"}))
        .await;
    other_sqlite_client(&database.url, "SELECT COUNT(*) FROM note");
    assert!(
        wal.exists(),
        "a second client left the server's write-ahead log alone"
    );
    let later = server
        .create(token, "contact", json!({"last_name": "Written later"}))
        .await;
    server.kill_now();
    let server = TestServer::start(&database);
    for id in [kept, later] {
        let (status, body) = record(&server, token, "contact", id).await;
        assert_eq!(
            status, 200,
            "contact {id} was written with 201 and must survive: {body}"
        );
    }
}

/// Runs one query in another process through Python's `sqlite3` module (an ordinary SQLite
/// client that opens the file, reads and closes it, as a backup tool would) and returns the
/// first column of its first row.
fn other_sqlite_client(path: &str, sql: &str) -> i64 {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             print(c.execute(sys.argv[2]).fetchone()[0])\n\
             c.close()",
            path,
            sql,
        ])
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}
