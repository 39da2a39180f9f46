//! The deliveries page in a real browser against the real `lethe serve`, on both backends:
//! an admin adds a webhook (a wrong URL first: shown next to its field, the form as typed,
//! nothing added) and sees its secret once; an event from the command line puts a message in
//! the outbox; the receiver fails and, with one try allowed (`LETHE_DELIVERY_TRIES=1`), the
//! worker of `lethe serve` gives the message up; it shows in red with its error; "Send again"
//! makes it wait, and it is delivered, signed with the secret the page showed; the webhook is
//! removed once its number is typed; a plain user is refused. The page has no serious
//! accessibility problem in any of these states.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::Ordering;

use lethe_testkit::browser::Browser;
use support::receiver::Receiver;
use support::{
    TestDatabase, TestServer, add_user_with_password, both_backends, lethe, sign_in, wait_for_count,
};

const BOSS_PASSWORD: &str = "the boss's passphrase";
const CLERK_PASSWORD: &str = "the clerk's passphrase";

/// An event from the command line: a contact made, moved to the trash, and its permanent
/// deletion requested (which every admin, and every webhook listening, hears of).
fn request_a_purge(database: &TestDatabase) {
    let contact = lethe(
        database,
        &[
            "record",
            "create",
            "contact",
            "last_name=Erasable",
            "--json",
        ],
    )
    .json();
    let id = contact["id"].as_i64().unwrap();
    let trashed = lethe(
        database,
        &["trash", "contact", &format!("id = {id}"), "--yes", "--json"],
    )
    .json();
    let batch = trashed["job"]["batch_id"].as_i64().unwrap().to_string();
    let purge = lethe(
        database,
        &[
            "purge", "request", "--batch", &batch, "--grace", "7d", "--yes",
        ],
    );
    assert_eq!(purge.status, 0, "{}", purge.stderr);
}

both_backends!(
    an_admin_adds_a_webhook_sends_a_given_up_message_again_and_removes_the_webhook,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "boss", "admin", BOSS_PASSWORD);
        add_user_with_password(&database, "clerk", "user", CLERK_PASSWORD);
        let receiver = Receiver::start(503).await;
        let server = TestServer::start_with_env(&database, &[("LETHE_DELIVERY_TRIES", "1")]);
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(&browser, &server, "/deliveries", "boss", BOSS_PASSWORD).await;
        browser.wait_for_text("main h1", "Deliveries").await;
        browser.wait_for_text("main", "The outbox is empty").await;
        browser.wait_for_text("main", "No webhook yet").await;
        browser
            .wait_for_text("header nav a[aria-current=page]", "Deliveries")
            .await;
        browser.assert_accessible("deliveries, empty").await;

        // A URL without its scheme, for purge requests only: refused next to its field, the
        // form kept as typed, nothing added.
        browser
            .fill("#webhook-url", "hooks.example.org/lethe")
            .await;
        browser.click("#event-all").await;
        browser.click("#event-purge_requested").await;
        browser.click("#add-webhook button[type=submit]").await;
        browser
            .wait_for_text("#webhook-url-error", "is not a webhook URL")
            .await;
        let kept = browser
            .find("#webhook-url")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some("hooks.example.org/lethe"));
        let ticked = |css: &'static str| {
            let browser = &browser;
            async move { browser.find(css).await.prop("checked").await.unwrap() }
        };
        assert_eq!(
            ticked("#event-purge_requested").await.as_deref(),
            Some("true")
        );
        assert_eq!(ticked("#event-all").await.as_deref(), Some("false"));
        assert_eq!(
            database.scalar("SELECT COUNT(*) FROM lethe_webhook").await,
            0
        );
        browser.assert_accessible("deliveries, a wrong URL").await;

        // The right URL: added, and its secret shown this once with how to check it.
        browser.fill("#webhook-url", &receiver.url).await;
        browser.click("#add-webhook button[type=submit]").await;
        browser
            .wait_for_text(".secret-note", "shown this once")
            .await;
        let secret = browser.text("code.secret").await;
        assert!(secret.starts_with("whsec_"), "{secret}");
        let told = browser.text(".secret-note").await;
        assert!(told.contains("Lethe-Signature: t="), "{told}");
        assert!(told.contains("HMAC-SHA-256"), "{told}");
        browser
            .wait_for_text("table.webhooks", "purge_requested")
            .await;
        assert!(browser.text("table.webhooks").await.contains("boss"));
        browser
            .assert_accessible("deliveries, a webhook added")
            .await;
        browser.goto(&server.endpoint("/deliveries")).await;
        browser.wait_for_text("table.webhooks", &receiver.url).await;
        assert!(
            !browser.page_source().await.contains(&secret),
            "the secret is shown once"
        );

        // A purge requested from the command line: the receiver answers 503, and with one try
        // allowed the message is given up at once.
        request_a_purge(&database);
        wait_for_count(
            &database,
            "the message is given up",
            "SELECT COUNT(*) FROM lethe_outbox WHERE given_up_at IS NOT NULL",
            1,
        )
        .await;
        browser.goto(&server.endpoint("/deliveries")).await;
        browser
            .wait_for_text(".given-up-count", "1 message was given up")
            .await;
        let row = browser.text("table.outbox tr.given-up").await;
        for shown in [
            "webhook",
            "purge_requested",
            receiver.url.as_str(),
            "given up",
            "answered 503",
            "Send again",
        ] {
            assert!(row.contains(shown), "{shown:?} in the row: {row}");
        }
        // In the danger colour, as a pending purge is on the console.
        let colours = browser
            .execute(
                "return [getComputedStyle(document.querySelector('tr.given-up td')).color, \
                 getComputedStyle(document.querySelector('#webhooks-title ~ table button.danger')).backgroundColor];",
                vec![],
            )
            .await;
        assert_eq!(colours[0], colours[1], "{colours}");
        browser
            .assert_accessible("deliveries, a message given up")
            .await;

        // Narrowed to the messages given up.
        browser.choose("#state", "given_up").await;
        browser.click("form[role=search] button").await;
        browser
            .wait_for_text("#state option:checked", "given up")
            .await;
        assert_eq!(browser.count("table.outbox tbody tr").await, 1);

        // Sent again: it waits, and the receiver now takes it.
        receiver.status.store(200, Ordering::SeqCst);
        browser.click("tr.given-up button[type=submit]").await;
        browser
            .wait_for_text(".note", "is waiting to be sent again")
            .await;
        assert!(browser.current_url().await.contains("state=given_up"));
        wait_for_count(
            &database,
            "the message is delivered",
            "SELECT COUNT(*) FROM lethe_outbox WHERE delivered_at IS NOT NULL",
            1,
        )
        .await;
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_history WHERE action = 'delivery.retried'")
                .await,
            1
        );
        let tries = receiver.received();
        assert_eq!(
            tries
                .iter()
                .map(|(_, _, status)| *status)
                .collect::<Vec<_>>(),
            [503, 200]
        );
        assert_eq!(
            tries[0].0["lethe-delivery"], tries[1].0["lethe-delivery"],
            "one message, tried twice"
        );
        // Signed as the page told the admin.
        let (headers, body, _) = &tries[1];
        assert_eq!(headers["lethe-event"], "purge_requested");
        lethe_notify::verify_signature(
            secret.as_bytes(),
            headers["lethe-signature"].to_str().unwrap(),
            body,
            time::OffsetDateTime::now_utc().unix_timestamp(),
            300,
        )
        .unwrap();
        browser
            .goto(&server.endpoint("/deliveries?state=delivered"))
            .await;
        browser.wait_for_text("table.outbox", "delivered").await;
        browser
            .wait_for_text(".given-up-count", "No message was given up")
            .await;

        // Removed once its number is typed; a wrong number changes nothing.
        let id = database.scalar("SELECT id FROM lethe_webhook").await;
        browser.goto(&server.endpoint("/deliveries")).await;
        browser.fill(&format!("#remove-{id}"), "0").await;
        browser.click(&format!("#webhook-{id} button.danger")).await;
        browser
            .wait_for_text(&format!("#remove-{id}-error"), "Nothing was changed")
            .await;
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_webhook WHERE removed_at IS NOT NULL")
                .await,
            0
        );
        browser
            .assert_accessible("deliveries, a removal not confirmed")
            .await;
        browser
            .fill(&format!("#remove-{id}"), &id.to_string())
            .await;
        browser.click(&format!("#webhook-{id} button.danger")).await;
        browser
            .wait_for_text(".note", &format!("Webhook {id} was removed"))
            .await;
        browser.wait_for_text("main", "No webhook yet").await;
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_webhook WHERE removed_at IS NOT NULL")
                .await,
            1
        );

        // A plain user is refused, and has no such page in the navigation.
        browser
            .click("header form[action='/sign-out'] button")
            .await;
        browser.wait_for_text("main h1", "Sign in").await;
        sign_in(&browser, &server, "/deliveries", "clerk", CLERK_PASSWORD).await;
        browser.wait_for_text("main h1", "Not allowed").await;
        browser.goto(&server.endpoint("/")).await;
        let navigation = browser.text("header nav").await;
        assert!(!navigation.contains("Deliveries"), "{navigation}");
        browser.close().await;
    }
);
