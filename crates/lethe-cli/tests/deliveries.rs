//! Notifications that reach people, end to end on both backends: the `lethe` command writes
//! an event's e-mails and webhook messages into the outbox, and a running `lethe serve`
//! delivers them to a real SMTP server (aiosmtpd) and a real HTTP receiver, signed; a
//! receiver that answers 500 and an SMTP server that is down are tried again until they
//! take the message, each message arriving once; bad settings are refused before anything
//! runs; a person sets where their notifications go on their account page.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lethe_testkit::smtp::SmtpSink;
use serde_json::Value;
use support::receiver::Receiver;
use support::{
    PageClient, TestDatabase, TestServer, add_user_with_password, both_backends, lethe,
    lethe_command,
};

const PASSWORD: &str = "a long enough passphrase";

/// Waits up to 30 s for `done`.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn smtp_env(sink: &SmtpSink) -> Vec<(&'static str, String)> {
    vec![
        ("LETHE_SMTP_HOST", sink.host().to_owned()),
        ("LETHE_SMTP_PORT", sink.port().to_string()),
        ("LETHE_SMTP_TLS", "none".to_owned()),
        ("LETHE_SMTP_FROM", "Lethe <lethe@lethe.example>".to_owned()),
        ("LETHE_PUBLIC_URL", "https://lethe.example.org/".to_owned()),
        ("LETHE_DELIVERY_FIRST_WAIT", "1s".to_owned()),
    ]
}

both_backends!(
    events_reach_people_by_email_and_signed_webhook_and_failures_are_retried,
    |database: TestDatabase| async move {
        let Some(mut sink) = SmtpSink::start() else {
            return;
        };
        add_user_with_password(&database, "ann", "admin", PASSWORD);
        add_user_with_password(&database, "bob", "admin", PASSWORD);
        lethe(
            &database,
            &["user", "delivery", "ann", "--email", "ann@lethe.example"],
        );
        let bob = lethe(
            &database,
            &[
                "user",
                "delivery",
                "bob",
                "--email",
                "bob@lethe.example",
                "--off",
                "purge_cancelled",
                "--json",
            ],
        )
        .json();
        assert_eq!(bob["delivery"]["email"], "bob@lethe.example");

        let receiver = Receiver::start(500).await;
        let hook = lethe(
            &database,
            &[
                "webhook",
                "add",
                &receiver.url,
                "--events",
                "purge_requested",
                "--json",
            ],
        )
        .json();
        let secret = hook["secret"].as_str().unwrap().to_owned();

        let env = smtp_env(&sink);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = TestServer::start_with_env(&database, &env);

        // An event made by the command line: a purge requested.
        let contact = lethe(
            &database,
            &[
                "record",
                "create",
                "contact",
                "last_name=Erasable",
                "email=erasable@example.org",
                "--json",
            ],
        )
        .json();
        let id = contact["id"].as_i64().unwrap();
        let trashed = lethe(
            &database,
            &["trash", "contact", &format!("id = {id}"), "--yes", "--json"],
        )
        .json();
        let batch = trashed["job"]["batch_id"].as_i64().unwrap();
        let purge = lethe(
            &database,
            &[
                "purge",
                "request",
                "--batch",
                &batch.to_string(),
                "--grace",
                "7d",
                "--yes",
                "--json",
            ],
        )
        .json();
        let job = purge["job"]["id"].as_i64().unwrap();

        // Both admins get the e-mail, once, with a link to the job and nothing of the record.
        wait_for("two e-mails", || sink.messages().len() >= 2).await;
        let mut mails = sink.messages();
        mails.sort_by(|a, b| a.to.cmp(&b.to));
        assert_eq!(mails.len(), 2);
        assert_eq!(
            mails
                .iter()
                .map(|mail| mail.to.as_str())
                .collect::<Vec<_>>(),
            ["ann@lethe.example", "bob@lethe.example"]
        );
        for mail in &mails {
            assert_eq!(mail.subject, "Lethe: a permanent deletion was requested");
            assert_eq!(mail.from, "Lethe <lethe@lethe.example>");
            let text = mail.text.clone().unwrap();
            assert!(text.contains(&format!("deletion batch {batch}")), "{text}");
            assert!(
                text.contains(&format!("https://lethe.example.org/jobs/{job}")),
                "{text}"
            );
            assert!(
                !mail.raw.contains("Erasable") && !mail.raw.contains("erasable@"),
                "{}",
                mail.raw
            );
        }

        // The webhook answers 500 at first: tried again, with the same delivery id, until it
        // takes it; every try is signed with the endpoint's secret.
        wait_for("two tries of the webhook", || {
            receiver.received().len() >= 2
        })
        .await;
        receiver.status.store(204, Ordering::SeqCst);
        wait_for("the webhook taking it", || {
            receiver
                .received()
                .iter()
                .any(|(_, _, status)| *status == 204)
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let tries = receiver.received();
        assert_eq!(
            tries.iter().filter(|(_, _, status)| *status == 204).count(),
            1,
            "delivered once"
        );
        let delivery_ids: std::collections::BTreeSet<&str> = tries
            .iter()
            .map(|(headers, _, _)| headers["lethe-delivery"].to_str().unwrap())
            .collect();
        assert_eq!(delivery_ids.len(), 1, "{delivery_ids:?}");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for (headers, body, _) in &tries {
            assert_eq!(headers["lethe-event"], "purge_requested");
            lethe_notify::verify_signature(
                secret.as_bytes(),
                headers["lethe-signature"].to_str().unwrap(),
                body,
                now,
                300,
            )
            .unwrap();
            let event: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(event["job"], serde_json::json!(job));
            assert!(!String::from_utf8_lossy(body).contains("Erasable"));
        }
        let list = lethe(&database, &["deliveries", "list", "--json"]).json();
        let webhook_row = list["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["channel"] == "webhook")
            .unwrap()
            .clone();
        assert_eq!(webhook_row["state"], "delivered");
        assert_eq!(webhook_row["attempts"], serde_json::json!(tries.len()));

        // The SMTP server goes down: the cancel's e-mail (ann's only: bob turned that kind
        // off) waits with the reason, and arrives once the server is back.
        let port = sink.port();
        sink.stop();
        lethe(&database, &["purge", "cancel", &job.to_string()]);
        let start = Instant::now();
        let waiting = loop {
            let list = lethe(
                &database,
                &["deliveries", "list", "--state", "waiting", "--json"],
            )
            .json();
            let found = list["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|row| row["kind"] == "purge_cancelled" && !row["last_error"].is_null())
                .cloned();
            if let Some(found) = found {
                break found;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no failed try: {list}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(waiting["to"], "ann@lethe.example");
        let error = waiting["last_error"].as_str().unwrap();
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
        let back = SmtpSink::builder().port(port).start().unwrap();
        wait_for("the cancel's e-mail", || !back.messages().is_empty()).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mails = back.messages();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].to, "ann@lethe.example");
        assert_eq!(
            mails[0].subject,
            "Lethe: a permanent deletion was cancelled"
        );
        // The try that got through carries the message's own Message-ID, the same every try
        // of it would: its outbox id, then the microsecond it was written.
        let message_id = mails[0].message_id.clone().unwrap_or_default();
        let named = format!("<lethe.delivery.{}.", waiting["id"]);
        assert!(message_id.starts_with(&named), "{message_id} for {waiting}");
        drop(server);
    }
);

both_backends!(
    bad_delivery_settings_are_refused_before_anything_runs,
    |database: TestDatabase| async move {
        lethe(&database, &["migrate"]);
        for (setting, value, named) in [
            ("LETHE_SMTP_TLS", "ssl", "LETHE_SMTP_TLS"),
            ("LETHE_SMTP_PORT", "0", "LETHE_SMTP_PORT"),
            ("LETHE_DELIVERY_TRIES", "none", "LETHE_DELIVERY_TRIES"),
            // Shorter than twice the 10 s timeout: a live worker could be overtaken.
            ("LETHE_DELIVERY_LEASE", "15s", "twice the delivery timeout"),
            ("LETHE_DELIVERY_LEASE", "soon", "LETHE_DELIVERY_LEASE"),
            ("LETHE_SMTP_FROM", "not an address", "SMTP settings"),
        ] {
            let output = lethe_command(&database)
                .env("LETHE_SMTP_HOST", "127.0.0.1")
                .env(setting, value)
                .arg("deliver")
                .output()
                .unwrap();
            assert!(!output.status.success(), "{setting}={value}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(named), "{setting}: {stderr}");
        }
        // No SMTP server set: an e-mail is given up with the reason, and an admin can send it
        // again once one is set.
        add_user_with_password(&database, "ann", "admin", PASSWORD);
        lethe(
            &database,
            &["user", "delivery", "ann", "--email", "ann@lethe.example"],
        );
        let contact = lethe(
            &database,
            &["record", "create", "contact", "last_name=X", "--json"],
        )
        .json();
        let id = contact["id"].as_i64().unwrap();
        let trashed = lethe(
            &database,
            &["trash", "contact", &format!("id = {id}"), "--yes", "--json"],
        )
        .json();
        let batch = trashed["job"]["batch_id"].as_i64().unwrap();
        lethe(
            &database,
            &[
                "purge",
                "request",
                "--batch",
                &batch.to_string(),
                "--grace",
                "7d",
                "--yes",
            ],
        );
        let delivered = lethe(&database, &["deliver", "--json"]).json();
        assert_eq!(delivered, serde_json::json!({"sent": 0, "failed": 1}));
        let list = lethe(
            &database,
            &["deliveries", "list", "--state", "given_up", "--json"],
        )
        .json();
        let row = &list["deliveries"][0];
        assert!(
            row["last_error"]
                .as_str()
                .unwrap()
                .contains("LETHE_SMTP_HOST"),
            "{row}"
        );
        let retried = lethe(
            &database,
            &["deliveries", "retry", &row["id"].to_string(), "--json"],
        )
        .json();
        assert_eq!(retried["delivery"]["state"], "waiting");
    }
);

/// `lethe ARGS --json` at the business time `now`; its JSON output.
fn lethe_at(database: &TestDatabase, now: &str, args: &[&str]) -> Value {
    let output = lethe_command(database)
        .env("LETHE_NOW", now)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

both_backends!(
    a_receiver_that_asks_to_wait_is_left_alone_that_long_and_old_deliveries_leave_the_outbox,
    |database: TestDatabase| async move {
        const NOW: &str = "2026-05-04T10:00:00Z";
        add_user_with_password(&database, "ann", "admin", PASSWORD);
        let receiver = Receiver::start(503).await;
        lethe_at(&database, NOW, &["webhook", "add", &receiver.url]);
        let contact = lethe_at(
            &database,
            NOW,
            &["record", "create", "contact", "last_name=X"],
        );
        let id = contact["id"].as_i64().unwrap();
        let trashed = lethe_at(
            &database,
            NOW,
            &["trash", "contact", &format!("id = {id}"), "--yes"],
        );
        let batch = trashed["job"]["batch_id"].as_i64().unwrap().to_string();
        lethe_at(
            &database,
            NOW,
            &[
                "purge", "request", "--batch", &batch, "--grace", "7d", "--yes",
            ],
        );

        // 503 with `Retry-After: 120`: the next try is two minutes on, not the rule's 30 s.
        let delivered = lethe_at(&database, NOW, &["deliver"]);
        assert_eq!(delivered, serde_json::json!({"sent": 0, "failed": 1}));
        let list = lethe_at(&database, NOW, &["deliveries", "list"]);
        let row = &list["deliveries"][0];
        assert_eq!(row["next_try_at"], "2026-05-04T10:02:00.000000Z", "{row}");
        assert!(
            row["last_error"]
                .as_str()
                .unwrap()
                .ends_with("answered 503 Service Unavailable and asked to wait 120 s"),
            "{row}"
        );
        assert_eq!(
            list["counts"],
            serde_json::json!({"waiting": 1, "delivered": 0, "given_up": 0})
        );
        // A minute later it is left alone; after the two minutes it is sent.
        let early = lethe_at(&database, "2026-05-04T10:01:00Z", &["deliver"]);
        assert_eq!(early, serde_json::json!({"sent": 0, "failed": 0}));
        assert_eq!(receiver.received().len(), 1);
        receiver.status.store(204, Ordering::SeqCst);
        let later = lethe_at(&database, "2026-05-04T10:02:00Z", &["deliver"]);
        assert_eq!(later, serde_json::json!({"sent": 1, "failed": 0}));
        assert_eq!(receiver.received().len(), 2);

        // Delivered messages stay for the period kept (30 days unless set), then leave.
        let list = lethe_at(&database, "2026-06-02T10:00:00Z", &["deliveries", "list"]);
        assert_eq!(
            list["counts"],
            serde_json::json!({"waiting": 0, "delivered": 1, "given_up": 0})
        );
        lethe_at(&database, "2026-06-02T10:00:00Z", &["deliver"]);
        let list = lethe_at(&database, "2026-06-02T10:00:00Z", &["deliveries", "list"]);
        assert_eq!(list["deliveries"].as_array().unwrap().len(), 1, "{list}");
        lethe_at(&database, "2026-06-04T10:00:00Z", &["deliver"]);
        let list = lethe_at(&database, "2026-06-04T10:00:00Z", &["deliveries", "list"]);
        assert_eq!(list["deliveries"], serde_json::json!([]), "{list}");
        assert_eq!(
            list["counts"],
            serde_json::json!({"waiting": 0, "delivered": 0, "given_up": 0})
        );
        // A period of one's own.
        let output = lethe_command(&database)
            .env("LETHE_DELIVERED_KEPT", "a while")
            .arg("deliver")
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("LETHE_DELIVERED_KEPT"), "{stderr}");
    }
);

both_backends!(
    a_person_sets_where_their_notifications_go_on_their_account_page,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "ula", "user", PASSWORD);
        let server = TestServer::start(&database);
        let mut client = PageClient::new(&server);
        client.sign_in("ula", PASSWORD).await;
        let (status, _, page) = client.get("/account").await;
        assert_eq!(status, 200);
        let token = PageClient::form_token(&page);
        assert!(page.contains("Where your notifications go"));

        // A wrong address is shown next to its field, as typed; nothing is saved.
        let (status, _, page) = client
            .post(
                "/account/delivery",
                &[
                    ("form_token", token.as_str()),
                    ("email", "ula at lethe"),
                    ("email_kind", "job_failed"),
                ],
            )
            .await;
        assert_eq!(status, 422);
        assert!(page.contains("id=\"email-error\""), "{page}");
        assert!(page.contains("value=\"ula at lethe\""));
        let settings = lethe(&database, &["user", "delivery", "ula", "--json"]).json();
        assert!(settings["delivery"]["email"].is_null());

        // A right one is saved, with only the ticked kinds by e-mail.
        let (status, _, _) = client
            .post(
                "/account/delivery",
                &[
                    ("form_token", token.as_str()),
                    ("email", "ula@lethe.example"),
                    ("email_kind", "job_failed"),
                    ("email_kind", "records_blocked"),
                ],
            )
            .await;
        assert_eq!(status, 303);
        let settings = lethe(&database, &["user", "delivery", "ula", "--json"]).json();
        assert_eq!(settings["delivery"]["email"], "ula@lethe.example");
        let by_email: Vec<&str> = settings["delivery"]["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|kind| kind["email"] == true)
            .map(|kind| kind["kind"].as_str().unwrap())
            .collect();
        assert_eq!(by_email, ["records_blocked", "job_failed"]);
    }
);
