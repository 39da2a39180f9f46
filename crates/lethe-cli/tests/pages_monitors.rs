//! The monitors pages in a real browser against the real `lethe serve`, on both backends: a
//! plain user adds a monitor (a wrong time zone first: shown next to its field, the form as
//! typed, nothing added), sees its baseline, runs it once a record entered its selection and
//! finds that record listed by id, a link to its page; disables it from the list. The pages
//! have no serious accessibility problem in any of these states.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_testkit::browser::Browser;
use support::{TestDatabase, TestServer, add_user_with_password, both_backends, lethe, sign_in};

const CLERK_PASSWORD: &str = "the clerk's passphrase";

both_backends!(
    a_user_adds_a_monitor_runs_it_and_sees_the_records_that_entered,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "clerk", "user", CLERK_PASSWORD);
        let saved = lethe(
            &database,
            &[
                "selection",
                "save",
                "stale",
                "contact",
                "--filter",
                "last_name starts_with \"Stale\"",
            ],
        );
        assert_eq!(saved.status, 0, "{}", saved.stderr);
        let server = TestServer::start(&database);
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(&browser, &server, "/monitors", "clerk", CLERK_PASSWORD).await;
        browser.wait_for_text("main h1", "Monitors").await;
        browser.wait_for_text("main", "No monitor yet").await;
        browser
            .wait_for_text("header nav a[aria-current=page]", "Monitors")
            .await;
        browser.assert_accessible("monitors, none yet").await;

        // A time zone that does not exist: refused next to its field, the form kept.
        browser.fill("#monitor-name", "stale-watch").await;
        browser.fill("#monitor-selection", "stale").await;
        browser.fill("#monitor-time-zone", "Europe/Atlantis").await;
        browser.click("#add-monitor button[type=submit]").await;
        browser
            .wait_for_text("#monitor-time-zone-error", "is not a time zone")
            .await;
        let kept = |css: &'static str| {
            let browser = &browser;
            async move { browser.find(css).await.prop("value").await.unwrap() }
        };
        assert_eq!(kept("#monitor-name").await.as_deref(), Some("stale-watch"));
        assert_eq!(
            kept("#monitor-time-zone").await.as_deref(),
            Some("Europe/Atlantis")
        );
        assert_eq!(kept("#monitor-subscribers").await.as_deref(), Some("clerk"));
        assert_eq!(
            database.scalar("SELECT COUNT(*) FROM lethe_monitor").await,
            0
        );
        browser
            .assert_accessible("monitors, a wrong time zone")
            .await;

        // Right: added, with its baseline, of which nobody is told.
        browser.fill("#monitor-time-zone", "Europe/Oslo").await;
        browser.click("#add-monitor button[type=submit]").await;
        browser
            .wait_for_text("main h1", "Monitor stale-watch")
            .await;
        browser
            .wait_for_text(".note", "Its baseline holds 0 record(s)")
            .await;
        browser.wait_for_text("main", "is the baseline").await;
        browser.assert_accessible("a monitor, just added").await;

        // A record enters the selection; "Run now" finds it, by id.
        let created = lethe(
            &database,
            &[
                "record",
                "create",
                "contact",
                "last_name=Stale Sam",
                "--json",
            ],
        )
        .json();
        let id = created["id"].as_i64().unwrap();
        browser.click("form[action$='/run'] button").await;
        browser
            .wait_for_text(".note", "1 entered, 0 left; 1 subscriber(s) told")
            .await;
        browser
            .wait_for_text("table.hits", &format!("contact {id}"))
            .await;
        assert!(
            !browser.text("table.hits").await.contains("Sam"),
            "record numbers only"
        );
        let link = browser
            .find("table.hits a")
            .await
            .attr("href")
            .await
            .unwrap();
        assert_eq!(
            link.as_deref(),
            Some(format!("/records/contact/{id}").as_str())
        );
        browser.assert_accessible("a monitor, after a run").await;

        // Disabled from the list.
        browser.goto(&server.endpoint("/monitors")).await;
        browser
            .wait_for_text("#monitor-stale-watch", "enabled")
            .await;
        browser
            .click("#monitor-stale-watch form[action$='/disable'] button")
            .await;
        browser
            .wait_for_text(".note", "Monitor stale-watch is disabled")
            .await;
        browser
            .wait_for_text("#monitor-stale-watch .state", "disabled")
            .await;
        browser.assert_accessible("monitors, one disabled").await;

        // Changed on its page: a wrong schedule is said next to its field, as typed; a right
        // one is saved.
        browser
            .goto(&server.endpoint("/monitors/stale-watch"))
            .await;
        // The page's title is its name alone (the forms below are in the page, not in it).
        let title = browser.execute("return document.title;", vec![]).await;
        assert_eq!(title, "Monitor stale-watch · Lethe");
        assert_eq!(browser.count("#change-monitor").await, 1);
        browser.click("details.change-monitor summary").await;
        browser.fill("#change-schedule", "every morning").await;
        browser.click("#change-monitor button[type=submit]").await;
        browser
            .wait_for_text("#change-schedule-error", "every morning")
            .await;
        let kept = browser
            .find("#change-schedule")
            .await
            .prop("value")
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some("every morning"));
        browser
            .assert_accessible("a monitor, a wrong schedule")
            .await;
        browser.fill("#change-schedule", "0 7 * * 1-5").await;
        browser.click("#change-on-leave").await;
        browser.click("#change-monitor button[type=submit]").await;
        browser
            .wait_for_text(".note", "Monitor stale-watch was changed")
            .await;
        browser
            .wait_for_text("dl.facts", "records that enter and records that leave")
            .await;

        // Removed once its name is typed; a wrong name changes nothing.
        browser.fill("#remove-typed", "stale").await;
        browser.click("#remove-monitor button.danger").await;
        browser
            .wait_for_text("#remove-error", "Type stale-watch to remove it")
            .await;
        assert_eq!(
            database.scalar("SELECT COUNT(*) FROM lethe_monitor").await,
            1
        );
        browser
            .assert_accessible("a monitor, a removal not confirmed")
            .await;
        browser.fill("#remove-typed", "stale-watch").await;
        browser.click("#remove-monitor button.danger").await;
        browser
            .wait_for_text(".note", "Monitor stale-watch was removed")
            .await;
        assert_eq!(
            database.scalar("SELECT COUNT(*) FROM lethe_monitor").await,
            0
        );
    }
);
