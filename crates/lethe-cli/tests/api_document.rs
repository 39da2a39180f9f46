//! What the server sends is what its OpenAPI document says (issue 15, item 3).
//!
//! A real `lethe serve` (with a short purge grace period) goes through a small life of
//! records: users and tokens, records, saved selections and snapshots, a trash, a second
//! trash that skips a member, a partial restore, a purge that runs and one that is
//! cancelled, a bulk update preview, the history and its verification, notifications and
//! where they go (an address, a webhook, the outbox, a message sent again), the consolidated
//! table, and error answers. Every JSON answer is checked against the schema the
//! served document gives that operation and status, with every object schema closed
//! (`lethe_testkit::openapi::strict`), so a field the document does not declare fails as
//! surely as a missing or mistyped one. lethe-http's unit tests check the derived components
//! against values of their Rust types; this checks the answers as they leave the server,
//! envelopes and per-entity records included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_testkit::openapi::{check_answer, strict};
use serde_json::{Value, json};
use support::*;

/// The server, its document made strict, and how many answers were checked.
struct Api {
    server: TestServer,
    document: Value,
    checked: usize,
}

impl Api {
    async fn start(database: &TestDatabase) -> Api {
        let server = TestServer::start_with_env(
            database,
            &[("LETHE_PURGE_GRACE", "2s"), ("LETHE_PURGE_MIN_GRACE", "1s")],
        );
        let (status, document) = server.get(None, "/api/v1/openapi.json").await;
        assert_eq!(status, 200, "{document}");
        Api {
            server,
            document: strict(&document),
            checked: 0,
        }
    }

    /// Sends `method path` (an instance of the document's `template`) and checks that the
    /// answer has the `expected` status and the body the document gives it.
    async fn send(
        &mut self,
        token: Option<&str>,
        method: &str,
        template: &str,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let client = &self.server.client;
        let url = self.server.endpoint(path);
        let mut request = match method {
            "get" => client.get(url),
            "post" => client.post(url),
            "put" => client.put(url),
            "patch" => client.patch(url),
            "delete" => client.delete(url),
            other => panic!("no method {other}"),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, answer) = respond(request).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        if let Err(problems) = check_answer(&self.document, method, template, status, &answer) {
            let shown: String = answer.to_string().chars().take(2_000).collect();
            panic!("the answer breaks the document: {shown}\n{problems}");
        }
        self.checked += 1;
        answer
    }

    async fn get(&mut self, token: &str, template: &str, path: &str) -> Value {
        self.send(Some(token), "get", template, path, None, 200)
            .await
    }

    /// Freezes a pick into a snapshot and returns its id.
    async fn snapshot(&mut self, token: &str, pick: Value) -> i64 {
        let answer = self
            .send(
                Some(token),
                "post",
                "/api/v1/snapshots",
                "/api/v1/snapshots",
                Some(pick),
                201,
            )
            .await;
        id(&answer["snapshot"])
    }

    /// Follows a job until it is finished, checking every answer, and returns the last one.
    async fn finished_job(&mut self, token: &str, id: i64) -> Value {
        let started = std::time::Instant::now();
        loop {
            let job = self
                .get(token, "/api/v1/jobs/{id}", &format!("/api/v1/jobs/{id}"))
                .await;
            match job["state"].as_str().unwrap() {
                "done" => return job,
                "queued" | "running" | "pending" => {}
                other => panic!("job {id} ended {other}: {job}"),
            }
            assert!(started.elapsed() < JOB_DEADLINE, "job {id}: {job}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

fn id(value: &Value) -> i64 {
    value["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id: {value}"))
}

both_backends!(
    every_answer_of_a_small_life_of_records_matches_the_document,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let mut api = Api::start(&database).await;
        let token = admin.as_str();

        // Users and tokens.
        api.get(token, "/api/v1/me", "/api/v1/me").await;
        api.send(None, "get", "/api/v1/me", "/api/v1/me", None, 401)
            .await;
        let created = api
            .send(
                Some(token),
                "post",
                "/api/v1/users",
                "/api/v1/users",
                Some(json!({"name": "bea", "role": "user"})),
                201,
            )
            .await;
        let bea = created["token"].as_str().unwrap().to_owned();
        api.get(token, "/api/v1/users", "/api/v1/users").await;
        let tokens = api
            .get(
                token,
                "/api/v1/users/{user}/tokens",
                "/api/v1/users/bea/tokens",
            )
            .await;
        let bea_token = id(&tokens["tokens"][0]);

        // Where notifications go: an address and a kind turned off, and a webhook that hears
        // of purges, before anything happens.
        api.get(
            token,
            "/api/v1/users/{user}/delivery",
            "/api/v1/users/admin/delivery",
        )
        .await;
        api.send(
            Some(token),
            "put",
            "/api/v1/users/{user}/delivery",
            "/api/v1/users/admin/delivery",
            Some(json!({"email": "dpo@example.org", "email_kinds": {"purge_cancelled": false}})),
            200,
        )
        .await;
        api.send(
            Some(token),
            "put",
            "/api/v1/users/{user}/delivery",
            "/api/v1/users/bea/delivery",
            Some(json!({"email": null})),
            200,
        )
        .await;
        let webhook = api
            .send(
                Some(token),
                "post",
                "/api/v1/webhooks",
                "/api/v1/webhooks",
                Some(json!({"url": "https://hooks.example.org/lethe", "events": "purge_requested,purge_executed"})),
                201,
            )
            .await;
        let webhook = id(&webhook["webhook"]);
        api.get(token, "/api/v1/webhooks", "/api/v1/webhooks").await;

        // Records: a contact with children, so that operations cascade and rewrite.
        let contact = |last_name: &str| json!({"first_name": "Ann", "last_name": last_name, "email": format!("{last_name}@example.com")});
        let mut contacts = Vec::new();
        for name in ["erased", "restored", "skipped"] {
            let record = api
                .send(
                    Some(token),
                    "post",
                    "/api/v1/records/contact",
                    "/api/v1/records/contact",
                    Some(contact(name)),
                    201,
                )
                .await;
            contacts.push(id(&record));
        }
        let [erased, restored, skipped] = contacts[..] else {
            unreachable!()
        };
        let kept = id(&api
            .send(
                Some(token),
                "post",
                "/api/v1/records/contact",
                "/api/v1/records/contact",
                Some(contact("kept")),
                201,
            )
            .await);
        api.send(
            Some(token),
            "post",
            "/api/v1/records/note",
            "/api/v1/records/note",
            Some(json!({"contact_id": erased, "body": "a secret"})),
            201,
        )
        .await;
        let ticket = id(&api
            .send(
                Some(token),
                "post",
                "/api/v1/records/ticket",
                "/api/v1/records/ticket",
                Some(json!({"contact_id": kept, "subject": "a problem"})),
                201,
            )
            .await);
        api.send(
            Some(token),
            "post",
            "/api/v1/records/ticket_comment",
            "/api/v1/records/ticket_comment",
            Some(json!({"ticket_id": ticket, "contact_id": erased, "body": "hello"})),
            201,
        )
        .await;
        api.get(
            token,
            "/api/v1/records/contact/{id}",
            &format!("/api/v1/records/contact/{erased}"),
        )
        .await;
        api.send(
            Some(token),
            "patch",
            "/api/v1/records/contact/{id}",
            &format!("/api/v1/records/contact/{kept}"),
            Some(json!({"first_name": "Kay"})),
            200,
        )
        .await;
        api.get(
            token,
            "/api/v1/records/contact",
            "/api/v1/records/contact?limit=2",
        )
        .await;
        api.get(
            token,
            "/api/v1/records/contact/count",
            "/api/v1/records/contact/count?filter=last_name%20%3D%20%22kept%22",
        )
        .await;
        api.send(
            Some(token),
            "post",
            "/api/v1/query/contact",
            "/api/v1/query/contact",
            Some(json!({"filter": "last_name = \"kept\"", "limit": 5})),
            200,
        )
        .await;
        api.send(
            Some(token),
            "get",
            "/api/v1/records/contact/{id}",
            "/api/v1/records/contact/999999",
            None,
            404,
        )
        .await;
        api.send(
            Some(token),
            "post",
            "/api/v1/records/contact",
            "/api/v1/records/contact",
            Some(json!({"last_name": "x", "nmae": "y"})),
            422,
        )
        .await;

        // Saved selections of every kind, and snapshots.
        for body in [
            json!({"name": "picked", "entity": "contact", "ids": [erased, restored, skipped]}),
            json!({"name": "kept", "entity": "contact", "filter": "last_name = \"kept\""}),
            json!({"name": "both", "entity": "contact", "union": ["picked", "kept"], "description": "all of them"}),
        ] {
            api.send(
                Some(token),
                "post",
                "/api/v1/selections",
                "/api/v1/selections",
                Some(body),
                201,
            )
            .await;
        }
        api.get(token, "/api/v1/selections", "/api/v1/selections")
            .await;
        api.get(
            token,
            "/api/v1/selections/{name}",
            "/api/v1/selections/both?scope=all",
        )
        .await;
        api.send(
            Some(token),
            "put",
            "/api/v1/selections/{name}",
            "/api/v1/selections/kept",
            Some(json!({"filter": "last_name = \"kept\" or last_name = \"other\"", "description": "still kept"})),
            200,
        )
        .await;
        api.get(
            token,
            "/api/v1/selections/{name}/records",
            "/api/v1/selections/both/records?limit=2",
        )
        .await;
        let all_three = api.snapshot(
            token,
            json!({"entity": "contact", "selection": "picked", "all_matching": true, "note": "the three"}),
        )
        .await;
        api.get(
            token,
            "/api/v1/snapshots/{id}",
            &format!("/api/v1/snapshots/{all_three}"),
        )
        .await;
        api.get(
            token,
            "/api/v1/snapshots/{id}/records",
            &format!("/api/v1/snapshots/{all_three}/records"),
        )
        .await;

        // A trash of one member, then of all three: the first is skipped (already trashed).
        let first = api
            .snapshot(token, json!({"entity": "contact", "include": [skipped]}))
            .await;
        api.send(
            Some(token),
            "post",
            "/api/v1/trash/preview",
            "/api/v1/trash/preview",
            Some(json!({"snapshot_id": first})),
            200,
        )
        .await;
        let job = api
            .send(
                Some(token),
                "post",
                "/api/v1/trash",
                "/api/v1/trash",
                Some(json!({"snapshot_id": first, "reason": "consent withdrawn"})),
                202,
            )
            .await;
        let first_batch = api.finished_job(token, id(&job)).await["batch_id"]
            .as_i64()
            .unwrap();
        let job = api
            .send(
                Some(token),
                "post",
                "/api/v1/trash",
                "/api/v1/trash",
                Some(json!({"snapshot_id": all_three, "batch_size": 1})),
                202,
            )
            .await;
        let trash = api.finished_job(token, id(&job)).await;
        assert_eq!(trash["skipped"], 1, "{trash}");
        let batch = trash["batch_id"].as_i64().unwrap();
        let skips = api
            .get(
                token,
                "/api/v1/jobs/{id}/skips",
                &format!("/api/v1/jobs/{}/skips", id(&trash)),
            )
            .await;
        assert_eq!(skips["skips"][0]["record_id"], skipped, "{skips}");
        api.get(
            token,
            "/api/v1/batches/{id}",
            &format!("/api/v1/batches/{batch}"),
        )
        .await;

        // Restore one member of the batch; purge the rest, and cancel a purge of the other.
        let job = api
            .send(
                Some(token),
                "post",
                "/api/v1/batches/{id}/restore",
                &format!("/api/v1/batches/{batch}/restore"),
                Some(json!({"ids": [restored]})),
                202,
            )
            .await;
        api.finished_job(token, id(&job)).await;
        api.get(
            token,
            "/api/v1/batches/{id}/purge/preview",
            &format!("/api/v1/batches/{batch}/purge/preview"),
        )
        .await;
        let purge = api
            .send(
                Some(token),
                "post",
                "/api/v1/batches/{id}/purge",
                &format!("/api/v1/batches/{batch}/purge"),
                Some(json!({"grace_seconds": 1, "reason": "erasure request"})),
                202,
            )
            .await;
        let waiting = api
            .send(
                Some(token),
                "post",
                "/api/v1/batches/{id}/purge",
                &format!("/api/v1/batches/{first_batch}/purge"),
                Some(json!({"grace_seconds": 3600})),
                202,
            )
            .await;
        api.get(token, "/api/v1/purges", "/api/v1/purges").await;
        api.send(
            Some(token),
            "post",
            "/api/v1/purges/{id}/cancel",
            &format!("/api/v1/purges/{}/cancel", id(&waiting)),
            None,
            200,
        )
        .await;
        let purged = api.finished_job(token, id(&purge)).await;
        assert!(purged["receipt"].is_object(), "{purged}");
        api.get(token, "/api/v1/jobs", "/api/v1/jobs?limit=100")
            .await;

        // The outbox holds the e-mails and webhook messages of those purges; removing the
        // webhook gives up what waited for it, and a given-up message is sent again.
        let page = api
            .get(token, "/api/v1/deliveries", "/api/v1/deliveries?limit=1")
            .await;
        let before = page["next_before"].as_i64().expect("more than one message");
        api.get(
            token,
            "/api/v1/deliveries",
            &format!("/api/v1/deliveries?state=waiting&before={before}"),
        )
        .await;
        let removed = api
            .send(
                Some(token),
                "delete",
                "/api/v1/webhooks/{id}",
                &format!("/api/v1/webhooks/{webhook}"),
                None,
                200,
            )
            .await;
        assert!(
            removed["undelivered_given_up"].as_u64() > Some(0),
            "{removed}"
        );
        // The webhook's message cannot be sent again (409); an e-mail given up (no SMTP
        // server is set) can.
        let mut tries = 0;
        let (hook, email) = loop {
            let given_up = api
                .get(
                    token,
                    "/api/v1/deliveries",
                    "/api/v1/deliveries?state=given_up&limit=1000",
                )
                .await;
            let first = |channel: &str| {
                given_up["deliveries"]
                    .as_array()
                    .and_then(|list| list.iter().find(|delivery| delivery["channel"] == channel))
                    .map(id)
            };
            if let (Some(hook), Some(email)) = (first("webhook"), first("email")) {
                break (hook, email);
            }
            tries += 1;
            assert!(
                tries < 300,
                "no given-up webhook message and e-mail: {given_up}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        api.send(
            Some(token),
            "post",
            "/api/v1/deliveries/{id}/retry",
            &format!("/api/v1/deliveries/{hook}/retry"),
            None,
            409,
        )
        .await;
        api.send(
            Some(token),
            "post",
            "/api/v1/deliveries/{id}/retry",
            &format!("/api/v1/deliveries/{email}/retry"),
            None,
            200,
        )
        .await;

        // A bulk update preview and an anonymisation.
        let kept_snapshot = api
            .snapshot(token, json!({"entity": "contact", "include": [kept]}))
            .await;
        api.send(
            Some(token),
            "post",
            "/api/v1/update/preview",
            "/api/v1/update/preview",
            Some(json!({"snapshot_id": kept_snapshot, "changes": {"first_name": "Kim"}})),
            200,
        )
        .await;
        let job = api
            .send(
                Some(token),
                "post",
                "/api/v1/anonymize",
                "/api/v1/anonymize",
                Some(json!({"snapshot_id": kept_snapshot})),
                202,
            )
            .await;
        api.finished_job(token, id(&job)).await;

        // The history, notifications, the consolidated table.
        api.get(token, "/api/v1/history", "/api/v1/history?limit=1000")
            .await;
        let verification = api
            .get(token, "/api/v1/history/verify", "/api/v1/history/verify")
            .await;
        assert_eq!(verification["intact"], true, "{verification}");
        let notifications = api
            .get(token, "/api/v1/notifications", "/api/v1/notifications")
            .await;
        let newest = id(&notifications["notifications"][0]);
        api.send(
            Some(token),
            "post",
            "/api/v1/notifications/read",
            "/api/v1/notifications/read",
            Some(json!({"up_to": newest})),
            200,
        )
        .await;
        api.get(token, "/api/v1/stats", "/api/v1/stats").await;

        // Errors, and the end of a token, a selection and a user.
        api.send(
            Some(&bea),
            "get",
            "/api/v1/history",
            "/api/v1/history",
            None,
            403,
        )
        .await;
        api.send(
            Some(token),
            "get",
            "/api/v1/jobs/{id}",
            "/api/v1/jobs/999999",
            None,
            404,
        )
        .await;
        api.send(
            Some(token),
            "post",
            "/api/v1/trash",
            "/api/v1/trash",
            Some(json!({"snapshot_id": 999_999})),
            404,
        )
        .await;
        for (method, template, path, body, expected) in [
            (
                "put",
                "/api/v1/users/{user}/delivery",
                "/api/v1/users/admin/delivery",
                Some(json!({"email_kinds": {"purge_done": false}})),
                422,
            ),
            (
                "put",
                "/api/v1/users/{user}/delivery",
                "/api/v1/users/admin/delivery",
                Some(json!({"email": "dpo"})),
                422,
            ),
            (
                "put",
                "/api/v1/users/{user}/delivery",
                "/api/v1/users/admin/delivery",
                Some(json!({"emial": "dpo@example.org"})),
                400,
            ),
            (
                "post",
                "/api/v1/webhooks",
                "/api/v1/webhooks",
                Some(json!({"url": "hooks.example.org", "events": "*"})),
                422,
            ),
            (
                "delete",
                "/api/v1/webhooks/{id}",
                "/api/v1/webhooks/999999",
                None,
                404,
            ),
            (
                "get",
                "/api/v1/deliveries",
                "/api/v1/deliveries?state=lost",
                None,
                422,
            ),
            (
                "post",
                "/api/v1/deliveries/{id}/retry",
                "/api/v1/deliveries/999999/retry",
                None,
                404,
            ),
        ] {
            api.send(Some(token), method, template, path, body, expected)
                .await;
        }
        for (method, template, path) in [
            (
                "get",
                "/api/v1/users/{user}/delivery",
                "/api/v1/users/admin/delivery",
            ),
            ("get", "/api/v1/webhooks", "/api/v1/webhooks"),
            ("get", "/api/v1/deliveries", "/api/v1/deliveries"),
        ] {
            api.send(Some(&bea), method, template, path, None, 403)
                .await;
        }
        api.send(
            Some(token),
            "post",
            "/api/v1/tokens/{id}/revoke",
            &format!("/api/v1/tokens/{bea_token}/revoke"),
            None,
            200,
        )
        .await;
        api.send(
            Some(token),
            "delete",
            "/api/v1/selections/{name}",
            "/api/v1/selections/both",
            None,
            200,
        )
        .await;
        api.send(
            Some(token),
            "delete",
            "/api/v1/users/{user}",
            "/api/v1/users/bea",
            None,
            200,
        )
        .await;
        assert!(api.checked > 50, "only {} answers checked", api.checked);
    }
);
