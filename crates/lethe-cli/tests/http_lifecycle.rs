//! The record lifecycle over HTTP — preview, trash as a background job, skips, restore,
//! permissions, history, notifications and bad input — driven over real HTTP against
//! `lethe serve` on a random port, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::*;

/// The ids of the active records of `entity`, ascending.
async fn active_ids(server: &TestServer, token: &str, entity: &str) -> Vec<i64> {
    let (status, page) = server
        .get(Some(token), &format!("/api/v1/records/{entity}?limit=1000"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["id"].as_i64().unwrap())
        .collect()
}

/// The records a preview says it acts on for `entity`.
fn acted_on(preview: &Value, entity: &str) -> u64 {
    preview["acted_on"]
        .as_array()
        .unwrap()
        .iter()
        .find(|count| count["entity"] == entity)
        .unwrap_or_else(|| panic!("no {entity} in acted_on: {preview}"))["records"]
        .as_u64()
        .unwrap()
}

async fn history_len(server: &TestServer, admin: &str) -> usize {
    let (status, body) = server.get(Some(admin), "/api/v1/history?limit=1000").await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().unwrap().len()
}

both_backends!(
    preview_trash_follow_the_job_see_skips_then_restore_the_batch,
    |database: TestDatabase| async move {
        let (admin_id, admin) = add_user(&database, "admin", "admin");
        let (_, clerk) = add_user(&database, "clerk", "user");
        let server = TestServer::start(&database);
        let token = admin.as_str();

        let company = server
            .create(token, "company", json!({"name": "Acme"}))
            .await;
        let ann = server
            .create(
                token,
                "contact",
                json!({"last_name": "Ann", "category": "prospect", "company_id": company}),
            )
            .await;
        let bob = server
            .create(
                token,
                "contact",
                json!({"last_name": "Bob", "category": "prospect"}),
            )
            .await;
        let cay = server
            .create(
                token,
                "contact",
                json!({"last_name": "Cay", "category": "prospect"}),
            )
            .await;
        let dan = server
            .create(
                token,
                "contact",
                json!({"last_name": "Dan", "category": "customer"}),
            )
            .await;
        let note_1 = server
            .create(token, "note", json!({"contact_id": ann, "body": "a"}))
            .await;
        let note_2 = server
            .create(token, "note", json!({"contact_id": bob, "body": "b"}))
            .await;
        let note_dan = server
            .create(token, "note", json!({"contact_id": dan, "body": "d"}))
            .await;
        server
            .create(
                token,
                "activity",
                json!({"contact_id": ann, "kind": "task"}),
            )
            .await;
        let invoice = server.create(token,
            "invoice",
            json!({"contact_id": cay, "number": "I-7", "amount": "12.00", "issued_at": "2024-01-31"}),
        )
        .await;

        // Freeze the pick, then preview it.
        let snapshot_id = server.snapshot(token,
            json!({"entity": "contact", "filter": "category = \"prospect\"", "all_matching": true}),
        )
        .await;
        let (status, preview) = server
            .post(
                Some(token),
                "/api/v1/trash/preview",
                &json!({"snapshot_id": snapshot_id}),
            )
            .await;
        assert_eq!(status, 200, "{preview}");
        assert_eq!(preview["operation"], "trash");
        assert_eq!(preview["entity"], "contact");
        assert_eq!(preview["snapshot_id"], snapshot_id);
        assert_eq!(preview["members"], 3);
        assert_eq!(preview["not_applicable"], 0);
        assert_eq!(preview["blocked"], 1);
        assert_eq!(acted_on(&preview, "contact"), 2);
        assert_eq!(acted_on(&preview, "note"), 2);
        assert_eq!(acted_on(&preview, "activity"), 1);
        let sample = preview["blocked_sample"].as_array().unwrap();
        assert_eq!(sample.len(), 1, "{preview}");
        assert_eq!(sample[0]["record_id"], cay);
        assert_eq!(sample[0]["entity"], "invoice");
        assert_eq!(sample[0]["count"], 1);

        // Confirm with the previewed snapshot: 202 at once, the job runs in the background.
        let response = server
            .client
            .post(server.endpoint("/api/v1/trash"))
            .bearer_auth(token)
            .json(
                &json!({"snapshot_id": snapshot_id, "reason": "stale prospects", "batch_size": 1}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        let location = response
            .headers()
            .get("location")
            .expect("a Location header")
            .to_str()
            .unwrap()
            .to_owned();
        let job: Value = response.json().await.unwrap();
        let job_id = job["id"].as_i64().unwrap();
        assert_eq!(location, format!("/api/v1/jobs/{job_id}"));
        assert_eq!(job["kind"], "trash");
        assert_eq!(job["entity"], "contact");
        assert_eq!(job["total"], 3);
        assert_eq!(job["reason"], "stale prospects");
        assert_eq!(job["actor"], "admin");
        assert_eq!(job["batch_size"], 1);
        let batch_id = job["batch_id"].as_i64().expect("the job fills a batch");

        let job = server.wait_for_job(token, job_id).await;
        assert_eq!(job["done"], 3, "{job}");
        assert_eq!(job["blocked"], 1, "{job}");
        assert_eq!(job["skipped"], 0, "{job}");
        assert_eq!(job["counts"]["contact"], 2, "{job}");
        assert_eq!(job["counts"]["note"], 2, "{job}");
        assert_eq!(job["counts"]["activity"], 1, "{job}");
        assert!(job["finished_at"].is_string(), "{job}");
        assert!(
            job["seconds_left"].is_null(),
            "a done job has no time left: {job}"
        );
        assert!(
            job.as_object().unwrap().contains_key("rate_per_second"),
            "{job}"
        );
        let (status, jobs) = server.get(Some(token), "/api/v1/jobs").await;
        assert_eq!(status, 200, "{jobs}");
        assert_eq!(jobs["jobs"][0]["id"], job_id, "newest first: {jobs}");

        // The trashed records left every list; reading one says where it is.
        assert_eq!(active_ids(&server, token, "contact").await, vec![cay, dan]);
        assert_eq!(active_ids(&server, token, "note").await, vec![note_dan]);
        assert_eq!(
            active_ids(&server, token, "activity").await,
            Vec::<i64>::new()
        );
        for (entity, id) in [
            ("contact", ann),
            ("contact", bob),
            ("note", note_1),
            ("note", note_2),
        ] {
            let (status, body) = server
                .get(Some(token), &format!("/api/v1/records/{entity}/{id}"))
                .await;
            let message = error_text(status, &body);
            assert_eq!(status, 409, "{body}");
            assert!(message.contains("in the trash"), "{message}");
            assert!(
                message.contains(&format!("deletion batch {batch_id}")),
                "{message}"
            );
        }
        let (status, _) = server
            .get(Some(token), &format!("/api/v1/records/invoice/{invoice}"))
            .await;
        assert_eq!(status, 200, "the blocking invoice is untouched");

        // The blocked member, with a message naming what blocks it.
        let (status, skips) = server
            .get(Some(token), &format!("/api/v1/jobs/{job_id}/skips"))
            .await;
        assert_eq!(status, 200, "{skips}");
        assert_eq!(skips["job_id"], job_id);
        assert_eq!(skips["entity"], "contact");
        let listed = skips["skips"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{skips}");
        assert_eq!(listed[0]["record_id"], cay);
        assert_eq!(listed[0]["kind"], "blocked");
        assert_eq!(listed[0]["entity"], "invoice");
        let message = listed[0]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("contact {cay}: 1 invoice")),
            "{message}"
        );
        assert!(message.contains("contact_id"), "{message}");

        // The deletion batch.
        let (status, batch) = server
            .get(Some(token), &format!("/api/v1/batches/{batch_id}"))
            .await;
        assert_eq!(status, 200, "{batch}");
        assert_eq!(batch["id"], batch_id);
        assert_eq!(batch["state"], "trashed");
        assert_eq!(batch["entity"], "contact");
        assert_eq!(batch["reason"], "stale prospects");
        assert_eq!(batch["created_by"], admin_id);
        assert_eq!(batch["job_id"], job_id);

        // The requester hears about the blocked member; nobody else does.
        let (status, feed) = server
            .get(Some(token), "/api/v1/notifications?unread=true")
            .await;
        assert_eq!(status, 200, "{feed}");
        let notifications = feed["notifications"].as_array().unwrap();
        assert_eq!(notifications.len(), 1, "{feed}");
        assert_eq!(notifications[0]["kind"], "records_blocked");
        assert_eq!(notifications[0]["job_id"], job_id);
        assert_eq!(notifications[0]["read"], false);
        let message = notifications[0]["message"].as_str().unwrap();
        assert!(
            message.contains("1 not trashed because a rule blocks them"),
            "{feed}"
        );
        // The list of blocked records comes with it.
        assert!(message.contains("1 invoice"), "{feed}");
        let (_, clerk_feed) = server.get(Some(&clerk), "/api/v1/notifications").await;
        assert_eq!(clerk_feed["notifications"], json!([]), "{clerk_feed}");
        let newest = notifications[0]["id"].as_i64().unwrap();
        let (status, body) = server
            .post(
                Some(token),
                "/api/v1/notifications/read",
                &json!({"up_to": newest}),
            )
            .await;
        assert_eq!((status, &body["marked_read"]), (200, &json!(1)), "{body}");
        let (_, feed) = server
            .get(Some(token), "/api/v1/notifications?unread=true")
            .await;
        assert_eq!(feed["notifications"], json!([]), "{feed}");
        let (_, feed) = server
            .get(Some(token), "/api/v1/notifications?unread=false&limit=10")
            .await;
        assert_eq!(feed["notifications"][0]["read"], true, "{feed}");

        // Another user may not undo an admin's batch.
        let (status, body) = server
            .post(
                Some(&clerk),
                &format!("/api/v1/batches/{batch_id}/restore"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 403, "{body}");

        // One-click undo: the whole batch comes back, and nothing else.
        let (status, restore) = server
            .post(
                Some(token),
                &format!("/api/v1/batches/{batch_id}/restore"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 202, "{restore}");
        assert_eq!(restore["kind"], "restore");
        assert_eq!(restore["batch_id"], batch_id);
        let restore = server
            .wait_for_job(token, restore["id"].as_i64().unwrap())
            .await;
        assert_eq!(restore["counts"]["contact"], 2, "{restore}");
        assert_eq!(restore["counts"]["note"], 2, "{restore}");
        assert_eq!(
            active_ids(&server, token, "contact").await,
            vec![ann, bob, cay, dan]
        );
        assert_eq!(
            active_ids(&server, token, "note").await,
            vec![note_1, note_2, note_dan]
        );
        assert_eq!(active_ids(&server, token, "activity").await.len(), 1);
        let (status, body) = server
            .get(Some(token), &format!("/api/v1/records/contact/{ann}"))
            .await;
        assert_eq!((status, &body["company_id"]), (200, &json!(company)));
        let (_, batch) = server
            .get(Some(token), &format!("/api/v1/batches/{batch_id}"))
            .await;
        assert_eq!(batch["state"], "restored", "{batch}");
        let (status, body) = server
            .post(
                Some(token),
                &format!("/api/v1/batches/{batch_id}/restore"),
                &json!({}),
            )
            .await;
        let message = error_text(status, &body);
        assert_eq!(status, 409, "{body}");
        assert!(message.contains("already been restored"), "{message}");

        // The history recorded it all, and the chain is intact; users may not read it.
        let (status, history) = server.get(Some(token), "/api/v1/history").await;
        assert_eq!(status, 200, "{history}");
        let actions: Vec<&str> = history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["action"].as_str().unwrap())
            .collect();
        assert!(actions.contains(&"trash.executed"), "{actions:?}");
        assert!(actions.contains(&"restore.executed"), "{actions:?}");
        let (status, page) = server.get(Some(token), "/api/v1/history?limit=1").await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["entries"].as_array().unwrap().len(), 1);
        let first = page["entries"][0]["id"].as_i64().unwrap();
        assert_eq!(page["next_after"], first);
        let (_, next) = server
            .get(
                Some(token),
                &format!("/api/v1/history?after={first}&limit=1"),
            )
            .await;
        assert!(next["entries"][0]["id"].as_i64().unwrap() > first, "{next}");
        assert_eq!(next["entries"][0]["prev_hash"], page["entries"][0]["hash"]);
        let (status, verification) = server.get(Some(token), "/api/v1/history/verify").await;
        assert_eq!(status, 200, "{verification}");
        assert_eq!(verification["intact"], true, "{verification}");
        assert!(verification["first_problem"].is_null(), "{verification}");
        assert_eq!(
            verification["entries"].as_u64().unwrap() as usize,
            history["entries"].as_array().unwrap().len()
        );
        for path in ["/api/v1/history", "/api/v1/history/verify"] {
            let (status, body) = server.get(Some(&clerk), path).await;
            let message = error_text(status, &body);
            assert_eq!(status, 403, "{path}: {body}");
            assert!(message.contains("admins only"), "{message}");
        }
    }
);

both_backends!(
    a_mass_trash_by_a_user_is_refused_and_changes_nothing,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let (_, clerk) = add_user(&database, "clerk", "user");
        let server = TestServer::start(&database);
        let mine = server
            .create(&clerk, "contact", json!({"last_name": "Mine"}))
            .await;
        let other = server
            .create(&admin, "contact", json!({"last_name": "Other"}))
            .await;
        let history_before = history_len(&server, &admin).await;

        let both = server
            .snapshot(
                &clerk,
                json!({"entity": "contact", "include": [mine, other]}),
            )
            .await;
        let (status, preview) = server
            .post(
                Some(&clerk),
                "/api/v1/trash/preview",
                &json!({"snapshot_id": both}),
            )
            .await;
        assert_eq!((status, &preview["members"]), (200, &json!(2)), "{preview}");
        let (status, body) = server
            .post(
                Some(&clerk),
                "/api/v1/trash",
                &json!({"snapshot_id": both, "reason": "cleanup"}),
            )
            .await;
        let message = error_text(status, &body);
        assert_eq!(status, 403, "{body}");
        assert!(message.contains("mass delete"), "{message}");
        assert!(message.contains("admin"), "{message}");
        assert_eq!(
            active_ids(&server, &admin, "contact").await,
            vec![mine, other]
        );
        assert_eq!(server.job_count(&admin).await, 0, "no job was made");
        assert_eq!(history_len(&server, &admin).await, history_before);

        // One record is not a mass delete: a user may trash it, and undo it.
        let one = server
            .snapshot(&clerk, json!({"entity": "contact", "include": [mine]}))
            .await;
        let (status, job) = server
            .post(Some(&clerk), "/api/v1/trash", &json!({"snapshot_id": one}))
            .await;
        assert_eq!(status, 202, "{job}");
        let job = server
            .wait_for_job(&clerk, job["id"].as_i64().unwrap())
            .await;
        assert_eq!(job["counts"]["contact"], 1, "{job}");
        assert!(job["reason"].is_null(), "{job}");
        assert_eq!(active_ids(&server, &admin, "contact").await, vec![other]);
        let (status, feed) = server
            .get(Some(&clerk), "/api/v1/notifications?unread=true")
            .await;
        assert_eq!(
            (status, &feed["notifications"]),
            (200, &json!([])),
            "nothing was blocked: {feed}"
        );
        let (status, restore) = server
            .post(
                Some(&clerk),
                &format!("/api/v1/batches/{}/restore", job["batch_id"]),
                &json!({"ids": [mine]}),
            )
            .await;
        assert_eq!(status, 202, "{restore}");
        server
            .wait_for_job(&clerk, restore["id"].as_i64().unwrap())
            .await;
        assert_eq!(
            active_ids(&server, &admin, "contact").await,
            vec![mine, other]
        );
        let (status, verification) = server.get(Some(&admin), "/api/v1/history/verify").await;
        assert_eq!((status, &verification["intact"]), (200, &json!(true)));
    }
);

both_backends!(
    bad_lifecycle_requests_get_clear_errors_and_change_nothing,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let server = TestServer::start(&database);
        let token = Some(admin.as_str());
        let contact = server
            .create(&admin, "contact", json!({"last_name": "Kept"}))
            .await;
        let kept = server
            .create(&admin, "contact", json!({"last_name": "Also"}))
            .await;
        let snapshot_id = server
            .snapshot(
                &admin,
                json!({"entity": "contact", "include": [contact, kept]}),
            )
            .await;
        let history_before = history_len(&server, &admin).await;

        // Bodies: missing, unknown and mistyped fields, broken JSON, out-of-range values.
        let long_reason = "x".repeat(1_001);
        let cases: Vec<(&str, Value, u16, Vec<String>)> = vec![
            (
                "/api/v1/trash/preview",
                json!({}),
                400,
                vec!["missing field `snapshot_id`".into()],
            ),
            (
                "/api/v1/trash",
                json!({"reason": "r"}),
                400,
                vec!["missing field `snapshot_id`".into()],
            ),
            (
                "/api/v1/trash",
                json!({"snapshot_id": "one"}),
                400,
                vec!["snapshot_id".into(), "invalid type".into()],
            ),
            (
                "/api/v1/trash",
                json!({"snapshot_id": snapshot_id, "confirm": true}),
                400,
                vec!["unknown field `confirm`".into()],
            ),
            (
                "/api/v1/trash",
                json!({"snapshot_id": snapshot_id, "batch_size": -1}),
                400,
                vec!["batch_size".into()],
            ),
            (
                "/api/v1/trash",
                json!({"snapshot_id": snapshot_id, "reason": 5}),
                400,
                vec!["reason".into(), "invalid type".into()],
            ),
            (
                "/api/v1/trash",
                json!([snapshot_id]),
                400,
                vec!["expected struct".into()],
            ),
            (
                "/api/v1/trash",
                json!({"snapshot_id": 999_999}),
                404,
                vec!["snapshot 999999 does not exist".into()],
            ),
            (
                "/api/v1/trash/preview",
                json!({"snapshot_id": 999_999}),
                404,
                vec!["snapshot 999999 does not exist".into()],
            ),
            (
                "/api/v1/trash",
                json!({"snapshot_id": snapshot_id, "batch_size": 0}),
                422,
                vec!["batch size must be between 1 and".into()],
            ),
            (
                "/api/v1/trash",
                json!({"snapshot_id": snapshot_id, "reason": long_reason}),
                422,
                vec!["longer than 1000 characters".into()],
            ),
            (
                "/api/v1/batches/999999/restore",
                json!({}),
                404,
                vec!["deletion batch 999999 does not exist".into()],
            ),
            (
                "/api/v1/batches/abc/restore",
                json!({}),
                400,
                vec!["bad path".into()],
            ),
            (
                "/api/v1/batches/1/restore",
                json!({"ids": "all"}),
                400,
                vec!["ids".into(), "invalid type".into()],
            ),
            (
                "/api/v1/batches/1/restore",
                json!({"everything": true}),
                400,
                vec!["unknown field `everything`".into()],
            ),
            (
                "/api/v1/notifications/read",
                json!({}),
                400,
                vec!["missing field `up_to`".into()],
            ),
            (
                "/api/v1/notifications/read",
                json!({"up_to": "all"}),
                400,
                vec!["up_to".into(), "invalid type".into()],
            ),
        ];
        for (path, body, expected, needles) in &cases {
            let (status, answer) = server.post(token, path, body).await;
            let message = error_text(status, &answer);
            assert_eq!(status, *expected, "{path} {body}: {answer}");
            for needle in needles {
                assert!(
                    message.contains(needle.as_str()),
                    "{path} {body}: `{message}` lacks `{needle}`"
                );
            }
        }
        for (body, content_type, needle) in [
            ("{\"snapshot_id\": ", "application/json", "not valid JSON"),
            (
                "snapshot_id=1",
                "application/x-www-form-urlencoded",
                "Content-Type: application/json",
            ),
        ] {
            let response = server
                .client
                .post(server.endpoint("/api/v1/trash"))
                .bearer_auth(&admin)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap();
            let message = error_text(status, &answer);
            assert_eq!(status, 400, "{answer}");
            assert!(message.contains(needle), "{message}");
        }

        // Query strings and paths.
        let gets = [
            ("/api/v1/jobs/999999", 404, "job 999999 does not exist"),
            (
                "/api/v1/jobs/999999/skips",
                404,
                "job 999999 does not exist",
            ),
            ("/api/v1/jobs/first", 400, "bad path"),
            (
                "/api/v1/batches/999999",
                404,
                "deletion batch 999999 does not exist",
            ),
            (
                "/api/v1/jobs?limit=0",
                400,
                "limit must be between 1 and 1000; 0 was given",
            ),
            ("/api/v1/jobs?limit=many", 400, "limit"),
            ("/api/v1/jobs?limt=5", 400, "unknown field `limt`"),
            ("/api/v1/history?after=last", 400, "after"),
            (
                "/api/v1/history?limit=1001",
                400,
                "limit must be between 1 and 1000",
            ),
            ("/api/v1/notifications?unread=maybe", 400, "unread"),
            ("/api/v1/notifications?limit=-3", 400, "limit"),
        ];
        for (path, expected, needle) in gets {
            let (status, answer) = server.get(token, path).await;
            let message = error_text(status, &answer);
            assert_eq!(status, expected, "{path}: {answer}");
            assert!(
                message.contains(needle),
                "{path}: `{message}` lacks `{needle}`"
            );
        }

        // Without a token, nothing.
        for path in [
            "/api/v1/jobs",
            "/api/v1/jobs/1",
            "/api/v1/history",
            "/api/v1/history/verify",
            "/api/v1/notifications",
            "/api/v1/batches/1",
        ] {
            let (status, _) = server.get(None, path).await;
            assert_eq!(status, 401, "{path}");
        }
        let (status, _) = server
            .post(None, "/api/v1/trash", &json!({"snapshot_id": snapshot_id}))
            .await;
        assert_eq!(status, 401);

        // Nothing changed.
        assert_eq!(
            active_ids(&server, &admin, "contact").await,
            vec![contact, kept]
        );
        assert_eq!(server.job_count(&admin).await, 0);
        assert_eq!(history_len(&server, &admin).await, history_before);

        // Restores of a real batch with a bad choice of members.
        let (status, job) = server
            .post(token, "/api/v1/trash", &json!({"snapshot_id": snapshot_id}))
            .await;
        assert_eq!(status, 202, "{job}");
        let job = server
            .wait_for_job(&admin, job["id"].as_i64().unwrap())
            .await;
        let batch = job["batch_id"].as_i64().unwrap();
        for (body, needle) in [
            (json!({"ids": []}), "no records are chosen".to_owned()),
            (
                json!({"ids": [contact, 424_242]}),
                format!("not members of deletion batch {batch}: 424242"),
            ),
            (json!({"batch_size": 0}), "batch size".to_owned()),
        ] {
            let (status, answer) = server
                .post(token, &format!("/api/v1/batches/{batch}/restore"), &body)
                .await;
            let message = error_text(status, &answer);
            assert_eq!(status, 422, "{body}: {answer}");
            assert!(
                message.contains(&needle),
                "{body}: `{message}` lacks `{needle}`"
            );
        }
        assert_eq!(server.job_count(&admin).await, 1, "no restore job was made");
        assert_eq!(
            active_ids(&server, &admin, "contact").await,
            Vec::<i64>::new()
        );
    }
);

both_backends!(
    the_openapi_document_describes_the_lifecycle_routes,
    |database: TestDatabase| async move {
        let server = TestServer::start(&database);
        let (status, document) = server.get(None, "/api/v1/openapi.json").await;
        assert_eq!(status, 200);
        let expected = [
            ("/api/v1/trash/preview", "post", "200"),
            ("/api/v1/trash", "post", "202"),
            ("/api/v1/batches/{id}", "get", "200"),
            ("/api/v1/batches/{id}/restore", "post", "202"),
            ("/api/v1/jobs", "get", "200"),
            ("/api/v1/jobs/{id}", "get", "200"),
            ("/api/v1/jobs/{id}/skips", "get", "200"),
            ("/api/v1/history", "get", "200"),
            ("/api/v1/history/verify", "get", "200"),
            ("/api/v1/notifications", "get", "200"),
            ("/api/v1/notifications/read", "post", "200"),
        ];
        for (path, method, success) in expected {
            let operation = &document["paths"][path][method];
            assert!(operation["operationId"].is_string(), "{path} {method}");
            let response =
                &operation["responses"][success]["content"]["application/json"]["schema"];
            assert!(response.is_object(), "{path} {method}: no {success} schema");
            assert!(
                operation["responses"]["401"].is_object(),
                "{path} {method}: no 401"
            );
            if method == "post" {
                let body = &operation["requestBody"]["content"]["application/json"]["schema"];
                assert_eq!(body["additionalProperties"], false, "{path}");
            }
        }
        for schema in [
            "Preview",
            "Skip",
            "Job",
            "DeletionBatch",
            "HistoryEntry",
            "HistoryVerification",
            "Notification",
        ] {
            assert!(
                document["components"]["schemas"][schema]["properties"].is_object(),
                "{schema}"
            );
        }
        let job = &document["components"]["schemas"]["Job"]["properties"];
        for field in ["done", "total", "counts", "rate_per_second", "seconds_left"] {
            assert!(job[field].is_object(), "Job.{field}");
        }
    }
);

both_backends!(
    one_confirmation_starts_one_operation_however_often_it_is_sent,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let server = TestServer::start(&database);
        let mut contacts = Vec::new();
        for index in 0..40 {
            contacts.push(
                server
                    .create(
                        &admin,
                        "contact",
                        json!({"last_name": format!("Picked{index}")}),
                    )
                    .await,
            );
        }
        let snapshot = server
            .snapshot(&admin, json!({"entity": "contact", "include": contacts}))
            .await;
        // The same confirmation, sent three times at once.
        let confirmation = json!({"snapshot_id": snapshot, "batch_size": 5});
        let sends = (0..3).map(|_| server.post(Some(&admin), "/api/v1/trash", &confirmation));
        let answers: Vec<(u16, Value)> = futures_join(sends).await;
        let started: Vec<&Value> = answers
            .iter()
            .filter(|(status, _)| *status == 202)
            .map(|(_, job)| job)
            .collect();
        assert_eq!(started.len(), 1, "one operation: {answers:?}");
        let job = started[0]["id"].as_i64().unwrap();
        for (status, body) in answers.iter().filter(|(status, _)| *status != 202) {
            let message = error_text(*status, body);
            assert_eq!(*status, 409, "{body}");
            assert!(message.contains(&format!("job {job}")), "{message}");
        }
        let job = server.wait_for_job(&admin, job).await;
        assert_eq!(job["counts"]["contact"], 40, "{job}");
        let batch = job["batch_id"].as_i64().unwrap();
        // Two restores of the batch at once: one runs, the other is told which.
        let path = format!("/api/v1/batches/{batch}/restore");
        let restore_body = json!({"batch_size": 5});
        let answers: Vec<(u16, Value)> =
            futures_join((0..2).map(|_| server.post(Some(&admin), &path, &restore_body))).await;
        let restoring: Vec<i64> = answers
            .iter()
            .filter(|(status, _)| *status == 202)
            .map(|(_, job)| job["id"].as_i64().unwrap())
            .collect();
        assert_eq!(restoring.len(), 1, "{answers:?}");
        let (status, body) = answers
            .iter()
            .find(|(status, _)| *status != 202)
            .unwrap()
            .clone();
        assert_eq!(status, 409, "{body}");
        // Named by the restore that has it — or, when that restore was already done by the
        // time the second arrived, the batch is restored.
        let message = error_text(status, &body);
        assert!(
            message.contains(&format!("job {}", restoring[0]))
                || message.contains("already been restored"),
            "{body}"
        );
        let restored = server.wait_for_job(&admin, restoring[0]).await;
        assert_eq!(
            restored["counts"]["contact"], 40,
            "the undo brings back all: {restored}"
        );
        // The consumed snapshot cannot start another operation later either.
        let (status, body) = server
            .post(Some(&admin), "/api/v1/trash", &confirmation)
            .await;
        assert_eq!(status, 409, "{body}");
    }
);

/// Runs the requests at the same time and returns their answers in order.
async fn futures_join<F: std::future::Future<Output = (u16, Value)>>(
    requests: impl Iterator<Item = F>,
) -> Vec<(u16, Value)> {
    futures_util::future::join_all(requests).await
}
