//! The retention policies pages in a real browser against the real `lethe serve`, on both
//! backends: an admin adds a policy that trashes (a wrong schedule first: shown next to its
//! field, the form as typed, nothing added), dry-runs it, runs exactly that dry run once the
//! policy's name is typed, and the records go to the recycle bin; a second admin approves
//! the policy and is refused when enabling it as well (four eyes). The pages have no serious
//! accessibility problem in any of these states.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_testkit::browser::Browser;
use support::{
    TestDatabase, TestServer, add_user_with_password, both_backends, lethe, sign_in, wait_for_count,
};

const ANN_PASSWORD: &str = "ann's long passphrase";
const BOB_PASSWORD: &str = "bob's long passphrase";

both_backends!(
    an_admin_adds_dry_runs_and_runs_a_policy_and_a_second_admin_approves_it,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "ann", "admin", ANN_PASSWORD);
        add_user_with_password(&database, "bob", "admin", BOB_PASSWORD);
        for name in ["Dormant One", "Dormant Two", "Dormant Three", "Lively"] {
            let made = lethe(
                &database,
                &["record", "create", "contact", &format!("last_name={name}")],
            );
            assert_eq!(made.status, 0, "{}", made.stderr);
        }
        let server = TestServer::start(&database);
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(&browser, &server, "/policies", "ann", ANN_PASSWORD).await;
        browser.wait_for_text("main h1", "Retention policies").await;
        browser
            .wait_for_text("main", "No retention policy yet")
            .await;
        browser
            .wait_for_text("header nav a[aria-current=page]", "Policies")
            .await;
        browser.assert_accessible("policies, none yet").await;

        // A schedule with four parts: refused next to its field, the form as typed.
        browser.fill("#policy-name", "dormant-leads").await;
        browser
            .fill("#policy-filter", "last_name starts_with \"Dormant\"")
            .await;
        browser.click("#policy-action-trash").await;
        browser.fill("#policy-schedule", "0 3 * *").await;
        browser.fill("#policy-time-zone", "Europe/Oslo").await;
        browser
            .fill(
                "#policy-legal-basis",
                "leads that never answered are kept one year",
            )
            .await;
        browser.click("#add-policy button[type=submit]").await;
        browser
            .wait_for_text("#policy-schedule-error", "cron")
            .await;
        let kept = |css: &'static str| {
            let browser = &browser;
            async move { browser.find(css).await.prop("value").await.unwrap() }
        };
        assert_eq!(kept("#policy-name").await.as_deref(), Some("dormant-leads"));
        assert_eq!(kept("#policy-schedule").await.as_deref(), Some("0 3 * *"));
        let trash_ticked = browser
            .find("#policy-action-trash")
            .await
            .prop("checked")
            .await
            .unwrap();
        assert_eq!(trash_ticked.as_deref(), Some("true"));
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_retention_policy")
                .await,
            0
        );
        browser
            .assert_accessible("policies, a wrong schedule")
            .await;

        // Right: added, disabled, waiting for a second admin; ann may not approve her own.
        browser.fill("#policy-schedule", "0 3 * * 1").await;
        browser.click("#add-policy button[type=submit]").await;
        browser
            .wait_for_text("main h1", "Policy dormant-leads")
            .await;
        browser.wait_for_text(".note", "was added, disabled").await;
        browser
            .wait_for_text(".policy-state", "Waits for a second admin's approval")
            .await;
        browser
            .wait_for_text(".actions", "another admin approves it")
            .await;
        assert_eq!(
            browser
                .count("form[action='/policies/dormant-leads/approve']")
                .await,
            0
        );
        browser.assert_accessible("a policy, just added").await;

        // The dry run counts the three dormant contacts; nothing changes.
        browser.click("form[action$='/dry-run'] button").await;
        browser
            .wait_for_text("#dry-title", "3 contact records found")
            .await;
        browser.wait_for_text(".dry-run", "3 contact").await;
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM contact WHERE trashed_at IS NOT NULL")
                .await,
            0
        );
        browser.assert_accessible("a policy's dry run").await;

        // A wrong name typed: nothing runs. The right one: the three go to the recycle bin.
        browser.fill("#confirm-run", "dormant").await;
        browser.click(".dry-run button.danger").await;
        browser
            .wait_for_text("#confirm-run-error", "Type dormant-leads to run it")
            .await;
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_policy_run WHERE kind = 'run'")
                .await,
            0
        );
        browser.fill("#confirm-run", "dormant-leads").await;
        browser.click(".dry-run button.danger").await;
        browser.wait_for_text(".note", "was made").await;
        wait_for_count(
            &database,
            "the dormant contacts are trashed",
            "SELECT COUNT(*) FROM contact WHERE trashed_at IS NOT NULL",
            3,
        )
        .await;
        browser
            .goto(&server.endpoint("/policies/dormant-leads"))
            .await;
        browser.wait_for_text("table.runs", "from dry run").await;
        browser.wait_for_text("table.runs", "3 contact").await;
        assert_eq!(browser.count("table.runs a[href^='/jobs/']").await, 1);
        browser.assert_accessible("a policy that ran").await;

        // Bob approves it, and may not enable it as well.
        browser
            .click("header form[action='/sign-out'] button")
            .await;
        sign_in(
            &browser,
            &server,
            "/policies/dormant-leads",
            "bob",
            BOB_PASSWORD,
        )
        .await;
        browser
            .wait_for_text("main h1", "Policy dormant-leads")
            .await;
        browser
            .click("form[action='/policies/dormant-leads/approve'] button")
            .await;
        browser
            .wait_for_text(".note", "You approved this version")
            .await;
        browser.wait_for_text("dl.facts", "by bob").await;
        browser
            .click("form[action='/policies/dormant-leads/enable'] button")
            .await;
        browser.wait_for_text("main", "may not also enable").await;
        assert_eq!(
            database
                .scalar(
                    "SELECT COUNT(*) FROM lethe_retention_policy \
                     WHERE enabled = (1 = 0) AND approved_by IS NOT NULL"
                )
                .await,
            1
        );
        browser.close().await;
    }
);
