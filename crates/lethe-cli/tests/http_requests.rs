//! People's erasure and access requests over HTTP, on both backends: registered, changed and
//! linked through the API with every answer checked against the served OpenAPI document; bad
//! input answered 422 (or 409 for a move a status does not allow) with nothing written; and
//! three `lethe serve` instances on one PostgreSQL database send each deadline reminder once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use lethe_testkit::openapi::{check_answer, strict};
use serde_json::{Value, json};
use support::{TestDatabase, TestServer, add_user, both_backends, lethe, respond};

/// Sends a request and checks the answer's status and its shape against the document.
async fn send(
    server: &TestServer,
    document: &Value,
    token: &str,
    (method, template, path): (&str, &str, &str),
    body: Option<Value>,
    expected: u16,
) -> Value {
    let url = server.endpoint(path);
    let mut request = match method {
        "get" => server.client.get(url),
        "post" => server.client.post(url),
        "patch" => server.client.patch(url),
        other => panic!("no method {other}"),
    };
    request = request.bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, answer) = respond(request).await;
    assert_eq!(status, expected, "{method} {path}: {answer}");
    if let Err(problems) = check_answer(document, method, template, status, &answer) {
        panic!("the answer breaks the document: {answer}\n{problems}");
    }
    answer
}

both_backends!(
    requests_are_registered_changed_and_linked_over_http,
    |database: TestDatabase| async move {
        lethe(&database, &["migrate"]);
        let (_, admin) = add_user(&database, "ann", "admin");
        let (_, clerk) = add_user(&database, "ula", "user");
        let server = TestServer::start(&database);
        let (_, document) = server.get(None, "/api/v1/openapi.json").await;
        let document = strict(&document);
        let list = ("get", "/api/v1/requests", "/api/v1/requests");

        // Bad input: 422 naming the field, nothing written.
        for (body, field) in [
            (
                json!({"kind": "erasure", "email": "not-an-address"}),
                "email",
            ),
            (json!({"kind": "erasure", "contact_id": 4242}), "contact"),
            (json!({"kind": "forget", "email": "a@example.org"}), "kind"),
            (
                json!({"kind": "erasure", "email": "a@example.org", "received": "2999-01-01"}),
                "received",
            ),
        ] {
            let answer = send(
                &server,
                &document,
                &admin,
                ("post", "/api/v1/requests", "/api/v1/requests"),
                Some(body),
                422,
            )
            .await;
            assert_eq!(answer["field"], field, "{answer}");
        }
        let answer = send(
            &server,
            &document,
            &clerk,
            ("post", "/api/v1/requests", "/api/v1/requests"),
            Some(json!({"kind": "access", "email": "a@example.org"})),
            403,
        )
        .await;
        assert_eq!(answer["code"], "forbidden");
        let listed = send(&server, &document, &admin, list, None, 200).await;
        assert!(
            listed["requests"].as_array().unwrap().is_empty(),
            "{listed}"
        );

        let added = send(
            &server,
            &document,
            &admin,
            ("post", "/api/v1/requests", "/api/v1/requests"),
            Some(json!({"kind": "erasure", "email": "Dora@Example.org", "assignee": "ula"})),
            201,
        )
        .await;
        let id = added["request"]["id"].as_i64().unwrap();
        let path = format!("/api/v1/requests/{id}");
        let one = ("patch", "/api/v1/requests/{id}", path.as_str());
        let get = ("get", "/api/v1/requests/{id}", path.as_str());

        // The assignee sees and starts it; going back to received makes no sense.
        send(&server, &document, &clerk, get, None, 200).await;
        let started = send(
            &server,
            &document,
            &clerk,
            one,
            Some(json!({"status": "in_progress"})),
            200,
        )
        .await;
        assert_eq!(started["request"]["status"], "in_progress");
        let back = send(
            &server,
            &document,
            &admin,
            one,
            Some(json!({"status": "received"})),
            422,
        )
        .await;
        assert!(
            back["error"].as_str().unwrap().contains("only once"),
            "{back}"
        );
        let again = send(
            &server,
            &document,
            &clerk,
            one,
            Some(json!({"status": "in_progress"})),
            409,
        )
        .await;
        assert_eq!(again["code"], "conflict");
        // Extensions: an admin's, with a reason, within two further months.
        send(
            &server,
            &document,
            &clerk,
            one,
            Some(json!({"extended_until": "2099-01-01", "reason": "x"})),
            403,
        )
        .await;
        let far = send(
            &server,
            &document,
            &admin,
            one,
            Some(json!({"extended_until": "2999-01-01", "reason": "x"})),
            422,
        )
        .await;
        assert_eq!(far["field"], "until", "{far}");
        let bare = send(
            &server,
            &document,
            &admin,
            one,
            Some(json!({"status": "refused"})),
            422,
        )
        .await;
        assert_eq!(bare["field"], "reason", "{bare}");

        // Links: the batch must exist.
        let links = format!("/api/v1/requests/{id}/links");
        let link = ("post", "/api/v1/requests/{id}/links", links.as_str());
        let missing = send(
            &server,
            &document,
            &clerk,
            link,
            Some(json!({"batch_id": 987})),
            422,
        )
        .await;
        assert!(
            missing["error"]
                .as_str()
                .unwrap()
                .contains("deletion batch 987 does not exist"),
            "{missing}"
        );
        let contact = server
            .create(&admin, "contact", json!({"last_name": "Dora"}))
            .await;
        let snapshot = server
            .snapshot(&admin, json!({"entity": "contact", "include": [contact]}))
            .await;
        let job = server
            .accepted(&admin, "/api/v1/trash", &json!({"snapshot_id": snapshot}))
            .await;
        let job = server
            .wait_for_job(&admin, job["id"].as_i64().unwrap())
            .await;
        let batch = job["batch_id"].as_i64().unwrap();
        let linked = send(
            &server,
            &document,
            &clerk,
            link,
            Some(json!({"batch_id": batch})),
            201,
        )
        .await;
        assert_eq!(linked["request"]["links"][0]["batch_id"], batch);
        assert_eq!(linked["request"]["links"][0]["state"], "trashed");

        // Done: the address is gone from the answer; the list by address still finds it.
        let done = send(
            &server,
            &document,
            &clerk,
            one,
            Some(json!({"status": "done"})),
            200,
        )
        .await;
        assert!(done["request"]["subject_email"].is_null(), "{done}");
        let found = send(
            &server,
            &document,
            &admin,
            (
                "get",
                "/api/v1/requests",
                "/api/v1/requests?email=dora%40example.org",
            ),
            None,
            200,
        )
        .await;
        assert_eq!(found["requests"][0]["id"], id, "{found}");
        let mine = send(
            &server,
            &document,
            &clerk,
            ("get", "/api/v1/requests", "/api/v1/requests?status=open"),
            None,
            200,
        )
        .await;
        assert!(mine["requests"].as_array().unwrap().is_empty(), "{mine}");
    }
);

/// Counts the feed entries of kind `request_deadline` per user and message.
async fn deadline_notifications(database: &TestDatabase) -> i64 {
    database
        .scalar("SELECT COUNT(*) FROM lethe_notification WHERE kind = 'request_deadline'")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_on_one_postgresql_send_each_reminder_once() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    lethe(&database, &["migrate"]);
    for (name, role) in [("ann", "admin"), ("bob", "admin"), ("ula", "user")] {
        add_user(&database, name, role);
    }
    // Twenty requests due within five days (the assignee hears) and ten overdue (both
    // admins hear): 20 + 2 × 10 notifications, each once.
    let now = time::OffsetDateTime::now_utc();
    let day = |days: i64| (now - time::Duration::days(days)).date().to_string();
    for index in 0..30 {
        let received = if index < 20 { day(27) } else { day(40) };
        let run = lethe(
            &database,
            &[
                "request",
                "add",
                "--erasure",
                "--email",
                &format!("p{index}@example.org"),
                "--received",
                &received,
                "--assignee",
                "ula",
                "--json",
            ],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
    }
    let servers: Vec<TestServer> = (0..3).map(|_| TestServer::start(&database)).collect();
    let started = Instant::now();
    while deadline_notifications(&database).await < 40
        && started.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few more rounds of every worker: nothing is sent twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(deadline_notifications(&database).await, 40);
    assert_eq!(
        database
            .scalar("SELECT COUNT(*) FROM lethe_request WHERE (received_at > now() - interval '35 days' AND reminded_at IS NULL) OR (received_at < now() - interval '35 days' AND overdue_notified_at IS NULL)")
            .await,
        0
    );
    assert_eq!(
        database
            .scalar("SELECT COUNT(*) FROM (SELECT user_id, message FROM lethe_notification GROUP BY user_id, message HAVING COUNT(*) > 1) AS twice")
            .await,
        0
    );
    drop(servers);
}
