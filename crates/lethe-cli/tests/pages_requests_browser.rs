//! The requests pages in a real browser against the real `lethe serve`, on both backends: an
//! admin sees an overdue request in red, registers one (a malformed address first: shown next
//! to its field, the form as typed, nothing written), starts it, is told next to the field
//! what is wrong with an extension and with a batch that does not exist, and marks it done,
//! after which its page no longer shows the address. The pages have no serious accessibility
//! problem in any of these states.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_testkit::browser::Browser;
use support::{TestDatabase, TestServer, add_user_with_password, both_backends, lethe, sign_in};

const PASSWORD: &str = "a long enough passphrase";
const ADDRESS: &str = "dora.vinter@example.org";

both_backends!(
    an_admin_registers_starts_and_closes_a_request_in_a_browser,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "bob", "admin", PASSWORD);
        // An access request received forty days ago: its deadline has passed.
        let received = (time::OffsetDateTime::now_utc() - time::Duration::days(40))
            .date()
            .to_string();
        let late = lethe(
            &database,
            &[
                "request",
                "add",
                "--access",
                "--email",
                "late@example.org",
                "--received",
                &received,
                "--json",
            ],
        );
        assert_eq!(late.status, 0, "{}", late.stderr);
        let late = late.json()["request"]["id"].as_i64().unwrap();
        let server = TestServer::start(&database);
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(&browser, &server, "/requests", "bob", PASSWORD).await;
        browser
            .wait_for_text("main h1", "Erasure and access requests")
            .await;
        browser
            .wait_for_text("header nav a[aria-current=page]", "Requests")
            .await;
        assert_eq!(
            browser.count(&format!("tr#request-{late}.overdue")).await,
            1
        );
        browser.assert_accessible("requests, one overdue").await;

        // A malformed address: said next to its field, kept as typed, nothing written.
        browser.click("#kind-erasure").await;
        browser.fill("#request-email", "dora at example.org").await;
        browser.click("#register-request button[type=submit]").await;
        browser
            .wait_for_text("#request-email-error", "dora at example.org")
            .await;
        let kept = browser
            .find("#request-email")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some("dora at example.org"));
        assert_eq!(
            database.scalar("SELECT COUNT(*) FROM lethe_request").await,
            1
        );
        browser
            .assert_accessible("requests, a malformed address")
            .await;

        // Registered; its page shows the deadline a calendar month on.
        browser.fill("#request-email", ADDRESS).await;
        browser.click("#register-request button[type=submit]").await;
        browser.wait_for_text("main h1", "erasure").await;
        browser.wait_for_text("dl.facts", ADDRESS).await;
        browser.wait_for_text("dl.facts", "received").await;
        browser
            .assert_accessible("a request, just registered")
            .await;

        // Started; an extension without a reason and a batch that does not exist are refused
        // next to their fields.
        browser.click("form input[value=start] ~ button").await;
        browser.wait_for_text("dl.facts", "in progress").await;
        browser.fill("#until", "2099-01-01").await;
        browser
            .click("form[aria-labelledby=extend-title] button")
            .await;
        browser
            .wait_for_text("#extend-reason-error", "needs more time")
            .await;
        let kept = browser.find("#until").await.prop("value").await.unwrap();
        assert_eq!(kept.as_deref(), Some("2099-01-01"));
        browser
            .assert_accessible("a request, a wrong extension")
            .await;
        browser.fill("#link-batch", "999999").await;
        browser
            .click("form[aria-labelledby=link-title] button")
            .await;
        browser.wait_for_text("#link-error", "999999").await;
        browser
            .assert_accessible("a request, an unknown batch")
            .await;

        // Done: the address is no longer kept, nor shown.
        browser.click("form input[value=done] ~ button").await;
        browser.wait_for_text("dl.facts", "done").await;
        assert!(
            !browser.text("main").await.contains(ADDRESS),
            "a closed request shows no address"
        );
        assert_eq!(
            database
                .scalar(&format!(
                    "SELECT COUNT(*) FROM lethe_request WHERE subject_email = '{ADDRESS}'"
                ))
                .await,
            0
        );
        browser.assert_accessible("a request, done").await;
        browser.close().await;
    }
);
