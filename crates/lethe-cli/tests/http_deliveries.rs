//! Where notifications go, over real HTTP against `lethe serve` on both backends (SPEC §7): a
//! person sets their e-mail address and turns a kind of event off, an admin adds a webhook,
//! and a purge requested and cancelled over the API leaves in the outbox exactly the e-mails
//! and webhook messages those choices call for; bad input is refused with a message that
//! says what to fix, and changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::*;

/// The contact whose purge is requested: none of these may be in any message.
const LAST_NAME: &str = "Quillfeather";
const EMAIL: &str = "ottilie.quillfeather@example.org";

const WEBHOOK_URL: &str = "https://hooks.example.org/lethe";

async fn put(server: &TestServer, token: &str, path: &str, body: &Value) -> (u16, Value) {
    send(server, token, "PUT", path, body).await
}

/// Sends `method path` with `body` (none when null) as the holder of `token`.
async fn send(
    server: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = server
        .client
        .request(method, server.endpoint(path))
        .bearer_auth(token);
    if !body.is_null() {
        request = request.json(body);
    }
    respond(request).await
}

/// The outbox as the admin lists it, newest first.
async fn outbox(server: &TestServer, admin: &str, query: &str) -> Vec<Value> {
    let (status, page) = server
        .get(Some(admin), &format!("/api/v1/deliveries{query}"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["deliveries"].as_array().unwrap().clone()
}

/// `(channel, kind, to)` of each message.
fn addressed(deliveries: &[Value]) -> BTreeSet<(String, String, String)> {
    deliveries
        .iter()
        .map(|delivery| {
            let text = |key: &str| delivery[key].as_str().unwrap().to_owned();
            (text("channel"), text("kind"), text("to"))
        })
        .collect()
}

/// Whether `kind` comes by e-mail in a user's delivery settings.
fn by_email(settings: &Value, kind: &str) -> bool {
    settings["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|choice| choice["kind"] == kind)
        .unwrap_or_else(|| panic!("no kind {kind}: {settings}"))["email"]
        .as_bool()
        .unwrap()
}

/// Every table the routes of this test write, dumped: equal dumps mean nothing changed.
async fn dump(database: &TestDatabase) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for (table, order) in [
        ("lethe_user", "id"),
        ("lethe_channel_choice", "user_id, kind, channel"),
        ("lethe_webhook", "id"),
        ("lethe_outbox", "id"),
        ("lethe_history", "id"),
    ] {
        all.push(database.dump(table, order).await);
    }
    all
}

both_backends!(
    an_address_a_kind_turned_off_and_a_webhook_decide_what_the_outbox_holds_after_a_purge_request,
    |database: TestDatabase| async move {
        let (_, ann) = add_user(&database, "ann", "admin");
        let (_, ula) = add_user(&database, "ula", "user");
        // A server that sends nothing, so that the outbox holds still while it is read: the
        // messages are sent below by `lethe deliver`, as a schedule would run it.
        let server = TestServer::start_with_env(&database, &[("LETHE_NO_DELIVERIES", "true")]);

        // Arrange: ann's address, with cancelled purges not by e-mail; ula's own address (she
        // is no admin, so purges are not hers to hear of); a webhook that hears of purges
        // requested and failed.
        let (status, settings) = put(
            &server,
            &ann,
            "/api/v1/users/ann/delivery",
            &json!({"email": "ann@lethe.example", "email_kinds": {"purge_cancelled": false}}),
        )
        .await;
        assert_eq!(status, 200, "{settings}");
        assert_eq!(settings["user"], "ann", "{settings}");
        assert_eq!(settings["email"], "ann@lethe.example", "{settings}");
        assert_eq!(
            settings["kinds"].as_array().unwrap().len(),
            lethe_store::notification::NotificationKind::ALL.len(),
            "{settings}"
        );
        assert!(!by_email(&settings, "purge_cancelled"), "{settings}");
        assert!(by_email(&settings, "purge_requested"), "{settings}");
        let (status, settings) = put(
            &server,
            &ula,
            "/api/v1/users/ula/delivery",
            &json!({"email": "ula@lethe.example"}),
        )
        .await;
        assert_eq!(status, 200, "{settings}");
        let (status, read) = server.get(Some(&ula), "/api/v1/users/ula/delivery").await;
        assert_eq!((status, &read), (200, &settings));

        let (status, added) = server
            .post(
                Some(&ann),
                "/api/v1/webhooks",
                &json!({"url": WEBHOOK_URL, "events": "purge_failed, purge_requested"}),
            )
            .await;
        assert_eq!(status, 201, "{added}");
        assert!(
            added["secret"]
                .as_str()
                .is_some_and(|secret| secret.starts_with("whsec_") && secret.len() > 30),
            "{added}"
        );
        let webhook = added["webhook"]["id"].as_i64().unwrap();
        assert_eq!(added["webhook"]["events"], "purge_requested,purge_failed");
        assert_eq!(added["webhook"]["created_by"], "ann");
        let (status, listed) = server.get(Some(&ann), "/api/v1/webhooks").await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(
            listed["webhooks"],
            json!([added["webhook"]]),
            "no secret: {listed}"
        );

        // Act: a contact trashed and its purge requested over the API.
        let contact = server
            .create(
                &ann,
                "contact",
                json!({"first_name": "Ottilie", "last_name": LAST_NAME, "email": EMAIL}),
            )
            .await;
        let snapshot = server
            .snapshot(&ann, json!({"entity": "contact", "include": [contact]}))
            .await;
        let trash = server
            .accepted(&ann, "/api/v1/trash", &json!({"snapshot_id": snapshot}))
            .await;
        let batch = server
            .wait_for_job(&ann, trash["id"].as_i64().unwrap())
            .await["batch_id"]
            .as_i64()
            .unwrap();
        let purge = server
            .accepted(
                &ann,
                &format!("/api/v1/batches/{batch}/purge"),
                &json!({"reason": "erasure request"}),
            )
            .await;
        assert_eq!(purge["state"], "pending", "{purge}");
        let purge = purge["id"].as_i64().unwrap();

        // Assert: ann's e-mail and the webhook's message wait in the outbox, nothing for ula.
        let waiting = outbox(&server, &ann, "").await;
        assert_eq!(
            addressed(&waiting),
            BTreeSet::from([
                (
                    "email".to_owned(),
                    "purge_requested".to_owned(),
                    "ann@lethe.example".to_owned()
                ),
                (
                    "webhook".to_owned(),
                    "purge_requested".to_owned(),
                    WEBHOOK_URL.to_owned()
                ),
            ]),
            "{waiting:?}"
        );
        for delivery in &waiting {
            assert_eq!(delivery["state"], "waiting", "{delivery}");
            assert_eq!(delivery["attempts"], 0, "{delivery}");
            assert_eq!(delivery["job_id"], purge, "{delivery}");
            assert_eq!(
                delivery["subject"], "Lethe: a permanent deletion was requested",
                "{delivery}"
            );
        }
        assert!(
            waiting[0]["id"].as_i64() > waiting[1]["id"].as_i64(),
            "newest first: {waiting:?}"
        );
        let email = waiting
            .iter()
            .find(|delivery| delivery["channel"] == "email")
            .unwrap();
        assert_eq!(email["user"], "ann", "{email}");
        assert_eq!(email["webhook_id"], Value::Null, "{email}");
        let message = waiting
            .iter()
            .find(|delivery| delivery["channel"] == "webhook")
            .unwrap();
        assert_eq!(message["webhook_id"], webhook, "{message}");
        let message = message["id"].as_i64().unwrap();

        // Pages of one, newest first.
        let (status, page) = server.get(Some(&ann), "/api/v1/deliveries?limit=1").await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["deliveries"], json!([waiting[0]]), "{page}");
        assert_eq!(page["next_before"], waiting[0]["id"], "{page}");
        let (status, page) = server
            .get(
                Some(&ann),
                &format!("/api/v1/deliveries?limit=1&before={}", waiting[0]["id"]),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["deliveries"], json!([waiting[1]]), "{page}");
        assert!(
            outbox(&server, &ann, "?state=delivered").await.is_empty()
                && outbox(&server, &ann, "?state=given_up").await.is_empty()
        );
        assert_eq!(outbox(&server, &ann, "?state=waiting").await, waiting);

        // Cancelling the purge: ann turned that kind off for e-mail and the webhook does not
        // listen to it, so only her feed hears of it.
        let (status, body) = server
            .post(
                Some(&ann),
                &format!("/api/v1/purges/{purge}/cancel"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(outbox(&server, &ann, "").await, waiting);
        let (status, feed) = server.get(Some(&ann), "/api/v1/notifications").await;
        assert_eq!(status, 200, "{feed}");
        assert_eq!(
            feed["notifications"][0]["kind"], "purge_cancelled",
            "{feed}"
        );

        // No message holds anything of the contact to be erased.
        for value in [LAST_NAME, EMAIL, "Ottilie"] {
            let sql = format!(
                "SELECT COUNT(*) FROM lethe_outbox WHERE body LIKE '%{value}%' \
                 OR subject LIKE '%{value}%' OR address LIKE '%{value}%'"
            );
            assert_eq!(database.scalar(&sql).await, 0, "{value} is in a message");
        }

        // Bad input is refused with what to fix, and changes nothing.
        let before = dump(&database).await;
        let put_ann = |body: Value| ("PUT", "/api/v1/users/ann/delivery".to_owned(), body);
        let cases: Vec<(&str, String, Value, u16, &str)> = vec![
            {
                let (method, path, body) = put_ann(json!({"email": "ann at lethe.example"}));
                (
                    method,
                    path,
                    body,
                    422,
                    "`ann at lethe.example` is not an e-mail address Lethe can send to",
                )
            },
            {
                let (method, path, body) = put_ann(
                    json!({"email": "new@lethe.example", "email_kinds": {"purge_requested": false, "purge_done": true}}),
                );
                (
                    method,
                    path,
                    body,
                    422,
                    "email_kinds: `purge_done` is not a kind of notification; the kinds are purge_requested, purge_cancelled, purge_executed, purge_failed, purge_held, records_blocked, job_failed",
                )
            },
            {
                let (method, path, body) =
                    put_ann(json!({"email_kinds": {"purge_requested": "no"}}));
                (
                    method,
                    path,
                    body,
                    400,
                    "the body does not have the expected shape",
                )
            },
            {
                let (method, path, body) = put_ann(json!({"address": "new@lethe.example"}));
                (method, path, body, 400, "unknown field `address`")
            },
            (
                "PUT",
                "/api/v1/users/nobody/delivery".to_owned(),
                json!({"email": null}),
                404,
                "there is no user `nobody`",
            ),
            (
                "POST",
                "/api/v1/webhooks".to_owned(),
                json!({"url": "ftp://hooks.example.org/in", "events": "*"}),
                422,
                "`ftp://hooks.example.org/in` is not a webhook URL",
            ),
            (
                "POST",
                "/api/v1/webhooks".to_owned(),
                json!({"url": WEBHOOK_URL, "events": "purge_requested,purge_done"}),
                422,
                "`purge_done` is not a kind of notification; the kinds are",
            ),
            (
                "POST",
                "/api/v1/webhooks".to_owned(),
                json!({"url": WEBHOOK_URL}),
                400,
                "missing field `events`",
            ),
            (
                "DELETE",
                "/api/v1/webhooks/999999".to_owned(),
                Value::Null,
                404,
                "there is no webhook 999999",
            ),
            (
                "GET",
                "/api/v1/deliveries?state=lost".to_owned(),
                Value::Null,
                422,
                "`lost` is not a delivery state; use waiting, delivered or given_up",
            ),
            (
                "GET",
                "/api/v1/deliveries?limit=0".to_owned(),
                Value::Null,
                400,
                "limit must be between 1 and 1000",
            ),
            (
                "POST",
                format!("/api/v1/deliveries/{message}/retry"),
                Value::Null,
                409,
                "is waiting; only a message that was given up on can be sent again",
            ),
            (
                "POST",
                "/api/v1/deliveries/999999/retry".to_owned(),
                Value::Null,
                404,
                "there is no delivery 999999",
            ),
        ];
        for (method, path, body, expected, words) in cases {
            let (status, answer) = send(&server, &ann, method, &path, &body).await;
            assert_eq!(status, expected, "{method} {path} {body}: {answer}");
            assert!(
                error_text(status, &answer).contains(words),
                "{method} {path} {body}: {answer}"
            );
            if words.starts_with("email_kinds") {
                assert_eq!(answer["field"], "email_kinds", "{answer}");
            }
        }
        // A plain user: not another's settings, no webhooks, no outbox.
        for (method, path, body) in [
            ("GET", "/api/v1/users/ann/delivery".to_owned(), Value::Null),
            (
                "PUT",
                "/api/v1/users/ann/delivery".to_owned(),
                json!({"email": "ula@lethe.example"}),
            ),
            ("GET", "/api/v1/webhooks".to_owned(), Value::Null),
            (
                "POST",
                "/api/v1/webhooks".to_owned(),
                json!({"url": WEBHOOK_URL, "events": "*"}),
            ),
            ("DELETE", format!("/api/v1/webhooks/{webhook}"), Value::Null),
            ("GET", "/api/v1/deliveries".to_owned(), Value::Null),
            (
                "POST",
                format!("/api/v1/deliveries/{message}/retry"),
                Value::Null,
            ),
        ] {
            let (status, answer) = send(&server, &ula, method, &path, &body).await;
            assert_eq!(status, 403, "{method} {path}: {answer}");
            assert_eq!(answer["code"], "forbidden", "{answer}");
        }
        assert!(
            dump(&database).await == before,
            "a refused request changed something"
        );

        // Removing the webhook gives up what waited for it, for good: it has nowhere to go.
        let (status, removed) = server
            .delete(Some(&ann), &format!("/api/v1/webhooks/{webhook}"))
            .await;
        assert_eq!(status, 200, "{removed}");
        assert_eq!(
            removed,
            json!({"removed": webhook, "undelivered_given_up": 1})
        );
        let (_, listed) = server.get(Some(&ann), "/api/v1/webhooks").await;
        assert_eq!(listed["webhooks"], json!([]), "{listed}");
        let given_up = outbox(&server, &ann, "?state=given_up&limit=1000").await;
        let hook = given_up
            .iter()
            .find(|delivery| delivery["id"] == message)
            .unwrap_or_else(|| panic!("{given_up:?}"));
        assert_eq!(hook["last_error"], "the webhook was removed");
        assert!(hook["given_up_at"].is_string(), "{hook}");
        let (status, refused) = server
            .post(
                Some(&ann),
                &format!("/api/v1/deliveries/{message}/retry"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 409, "{refused}");
        assert!(
            error_text(status, &refused).contains("was removed"),
            "{refused}"
        );

        // `lethe deliver` gives ann's e-mail up at its first try, as no SMTP server is set;
        // sent again, it waits with its tries started over.
        let email = email["id"].as_i64().unwrap();
        let delivered = lethe_command(&database)
            .args(["deliver", "--json"])
            .output()
            .unwrap();
        assert!(delivered.status.success(), "{delivered:?}");
        let delivered: Value = serde_json::from_slice(&delivered.stdout).unwrap();
        assert_eq!(delivered, json!({"sent": 0, "failed": 1}));
        let given_up = outbox(&server, &ann, "?state=given_up&limit=1000").await;
        let mail = given_up
            .iter()
            .find(|delivery| delivery["id"] == email)
            .unwrap_or_else(|| panic!("the e-mail was not given up: {given_up:?}"));
        assert!(
            mail["last_error"]
                .as_str()
                .is_some_and(|error| error.starts_with("no SMTP server is set")),
            "{mail}"
        );
        let (status, retried) = server
            .post(
                Some(&ann),
                &format!("/api/v1/deliveries/{email}/retry"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{retried}");
        assert_eq!(retried["delivery"]["attempts"], 0, "{retried}");
        assert_eq!(retried["delivery"]["given_up_at"], Value::Null, "{retried}");
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_history WHERE action = 'delivery.retried'")
                .await,
            1
        );

        // The address removed, the kinds left as they were; an empty change changes nothing.
        let (status, settings) = put(
            &server,
            &ann,
            "/api/v1/users/ann/delivery",
            &json!({"email": null}),
        )
        .await;
        assert_eq!(status, 200, "{settings}");
        assert_eq!(settings["email"], Value::Null, "{settings}");
        assert!(!by_email(&settings, "purge_cancelled"), "{settings}");
        let (status, unchanged) =
            put(&server, &ann, "/api/v1/users/ann/delivery", &json!({})).await;
        assert_eq!((status, &unchanged), (200, &settings));

        // The history has every change, and never an address or a secret.
        let (status, history) = server.get(Some(&ann), "/api/v1/history?limit=1000").await;
        assert_eq!(status, 200, "{history}");
        let actions: Vec<&str> = history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["action"].as_str().unwrap())
            .collect();
        for action in [
            "user.delivery_changed",
            "webhook.added",
            "webhook.removed",
            "delivery.retried",
        ] {
            assert!(actions.contains(&action), "no {action}: {actions:?}");
        }
        let text = history.to_string();
        for secret in [
            "ann@lethe.example",
            "ula@lethe.example",
            added["secret"].as_str().unwrap(),
        ] {
            assert!(!text.contains(secret), "{secret} is in the history");
        }
    }
);
