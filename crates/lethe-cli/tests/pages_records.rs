//! The records page, in a real browser against the real `lethe serve`: HighLevel's bulk
//! delete — tick the page, "Select all N matching", untick two, trash — with SuperOffice's
//! two confirmations, the job's page, and the undo; a filter typed in the box is counted as
//! it is typed and a wrong one is shown at its place; a record holding markup shows it as
//! text. On both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_testkit::browser::Browser;
use support::{TestDatabase, TestServer, add_user_with_password, both_backends, sign_in};

const PASSWORD: &str = "the boss's passphrase";

/// 120 prospects without related records (so that nothing blocks them), and one whose name
/// is markup.
async fn contacts(database: &TestDatabase) {
    database
        .execute(
            "INSERT INTO contact (first_name, last_name, email, category, legal_basis, created_at, updated_at) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120) \
             SELECT 'Person', 'Number ' || i, 'person' || i || '@example.com', 'prospect', 'none', \
             '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z' FROM n",
        )
        .await;
    database
        .execute(
            "INSERT INTO contact (first_name, last_name, email, category, legal_basis, created_at, updated_at) \
             VALUES ('<script>document.title = \"owned\"</script>', '<b>Bold</b>', 'markup@example.com', 'customer', 'none', \
             '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
        )
        .await;
}

async fn active_contacts(database: &TestDatabase) -> i64 {
    database
        .scalar("SELECT COUNT(*) FROM contact WHERE trash_batch_id IS NULL AND id > 0")
        .await
}

both_backends!(
    tick_the_page_select_all_matching_untick_two_and_trash_the_rest,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "boss", "admin", PASSWORD);
        let server = TestServer::start(&database);
        contacts(&database).await;
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(&browser, &server, "/records/contact", "boss", PASSWORD).await;

        // The filter is counted as it is typed; a wrong one is shown with its place.
        browser
            .wait_for_text("#filter-status", "121 matching")
            .await;
        browser.fill("#filter", "category = \"prospekt\"").await;
        browser.wait_for_text("#filter-status", "1:").await;
        assert!(
            browser.text("#filter-status").await.contains("prospect"),
            "the problem names the values allowed: {}",
            browser.text("#filter-status").await
        );
        browser.fill("#filter", "category = \"prospect\"").await;
        browser
            .wait_for_text("#filter-status", "120 matching")
            .await;
        browser.click(".filter-box button[type=submit]").await;
        browser
            .wait_for_text("#filter-status", "120 matching")
            .await;
        browser.assert_accessible("records").await;

        // Nothing ticked: the bulk action asks for a tick and starts nothing.
        browser.click("#bulk button[type=submit]").await;
        browser
            .wait_for_text("#ticked-count", "Tick at least one row first.")
            .await;
        assert_eq!(browser.count("#busy[hidden]").await, 1, "no work started");
        assert!(browser.current_url().await.contains("/records/contact"));

        // Tick the page: the banner offers every match; take it, then untick two rows.
        browser.click("#tick-page").await;
        browser
            .wait_for_text("#select-all-banner", "All 50 on this page are selected.")
            .await;
        assert_eq!(
            browser.text("#select-all-matching").await,
            "Select all 120 matching"
        );
        browser.click("#select-all-matching").await;
        browser
            .wait_for_text("#select-all-banner", "All 120 matching are selected")
            .await;
        let rows = browser
            .client()
            .find_all(lethe_testkit::browser::fantoccini::Locator::Css(
                ".tick-row",
            ))
            .await
            .unwrap();
        let mut kept = Vec::new();
        for row in rows.iter().take(2) {
            kept.push(row.attr("value").await.unwrap().unwrap());
            row.click().await.unwrap();
        }
        browser
            .wait_for_text("#select-all-banner", "except 2")
            .await;
        browser.click("#bulk button[type=submit]").await;

        // First confirmation: the preview says what moves.
        browser
            .wait_for_text("main h1", "Move 118 contact records")
            .await;
        browser.assert_accessible("trash preview").await;
        browser.click("a.button.danger").await;
        // Second: the number must be typed; a wrong one is refused and moves nothing.
        browser
            .wait_for_text("main h1", "Confirm: move 118 contact records")
            .await;
        browser.assert_accessible("trash confirmation").await;
        browser.fill("#typed", "120").await;
        browser.click("button.danger").await;
        browser
            .wait_for_text("#typed-error", "Nothing was moved")
            .await;
        assert_eq!(active_contacts(&database).await, 121);
        browser.fill("#typed", "118").await;
        browser.fill("#reason", "stale prospects").await;
        let button = browser.text("button.danger").await;
        assert_eq!(button, "Move 118 contact records to the trash");
        browser.click("button.danger").await;

        // The job's page follows the job to its end.
        browser.wait_for_text("#job-state", "done").await;
        browser.wait_for_text("main", "What changed").await;
        browser.assert_accessible("job").await;
        assert_eq!(
            active_contacts(&database).await,
            3,
            "the two unticked and the customer"
        );
        for id in &kept {
            let active = database
                .scalar(&format!(
                    "SELECT COUNT(*) FROM contact WHERE id = {id} AND trash_batch_id IS NULL"
                ))
                .await;
            assert_eq!(active, 1, "contact {id} was unticked and stays");
        }

        // Undo brings every one back.
        browser.click("form[action^='/batches/'] button").await;
        browser
            .wait_for_text("main h1", "Restoring from the trash")
            .await;
        browser.wait_for_text("#job-state", "done").await;
        assert_eq!(active_contacts(&database).await, 121);
        browser.close().await;
    }
);

both_backends!(
    a_record_holding_markup_shows_it_as_text,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "boss", "admin", PASSWORD);
        let server = TestServer::start(&database);
        contacts(&database).await;
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(
            &browser,
            &server,
            "/records/contact?filter=category%20%3D%20%22customer%22",
            "boss",
            PASSWORD,
        )
        .await;
        browser
            .wait_for_text("table.records tbody", "<b>Bold</b>")
            .await;
        let text = browser.text("table.records tbody").await;
        assert!(
            text.contains("<script>document.title = \"owned\"</script>"),
            "{text}"
        );
        let title = browser.execute("return document.title", vec![]).await;
        assert_eq!(title, serde_json::json!("contact records · Lethe"));
        browser.close().await;
    }
);

/// Ticks the first `count` rows of the records page and continues with `action`.
async fn tick_and_continue(browser: &Browser, count: usize, action: &str) -> Vec<String> {
    let rows = browser
        .client()
        .find_all(lethe_testkit::browser::fantoccini::Locator::Css(
            ".tick-row",
        ))
        .await
        .unwrap();
    let mut ticked = Vec::new();
    for row in rows.iter().take(count) {
        ticked.push(row.attr("value").await.unwrap().unwrap());
        row.click().await.unwrap();
    }
    browser.choose("#action", action).await;
    browser.click("#bulk button[type=submit]").await;
    ticked
}

both_backends!(
    a_bulk_update_and_an_anonymisation_are_checked_asked_twice_and_change_only_the_ticked,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "boss", "admin", PASSWORD);
        let server = TestServer::start(&database);
        contacts(&database).await;
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(&browser, &server, "/records/contact", "boss", PASSWORD).await;
        browser
            .wait_for_text("#filter-status", "121 matching")
            .await;
        let ticked = tick_and_continue(&browser, 3, "update").await;
        browser
            .wait_for_text("main h1", "Update a field of 3 contact records")
            .await;
        browser.choose("#field", "category").await;
        browser.fill("#value", "lots").await;
        browser.click("main form[method=get] button").await;
        browser.wait_for_text("#value-error", "lost").await;
        browser.fill("#value", "lost").await;
        browser.click("main form[method=get] button").await;
        browser.wait_for_text("main", "on 3 contact records").await;
        browser.assert_accessible("bulk update").await;
        browser.fill("#typed", "3").await;
        browser.click("button.danger").await;
        browser.wait_for_text("#job-state", "done").await;
        let lost = database
            .scalar("SELECT COUNT(*) FROM contact WHERE category = 'lost'")
            .await;
        assert_eq!(lost, 3);
        for id in &ticked {
            let changed = database
                .scalar(&format!(
                    "SELECT COUNT(*) FROM contact WHERE id = {id} AND category = 'lost'"
                ))
                .await;
            assert_eq!(changed, 1, "contact {id} was ticked");
        }

        // Anonymise two: their personal fields are overwritten, the records stay.
        browser.goto(&server.endpoint("/records/contact")).await;
        browser
            .wait_for_text("#filter-status", "121 matching")
            .await;
        let ticked = tick_and_continue(&browser, 2, "anonymize").await;
        browser
            .wait_for_text("main h1", "Anonymise 2 contact records?")
            .await;
        assert!(browser.text("main table").await.contains("last_name"));
        browser.assert_accessible("anonymise").await;
        browser.fill("#typed", "3").await;
        browser.click("button.danger").await;
        browser
            .wait_for_text("#typed-error", "Nothing was changed")
            .await;
        browser.fill("#typed", "2").await;
        browser.click("button.danger").await;
        browser.wait_for_text("#job-state", "done").await;
        for id in &ticked {
            let anonymous = database
                .scalar(&format!(
                    "SELECT COUNT(*) FROM contact WHERE id = {id} AND last_name = 'User' \
                     AND email NOT LIKE '%@example.com' AND trash_batch_id IS NULL"
                ))
                .await;
            assert_eq!(anonymous, 1, "contact {id} was anonymised and stays");
        }
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM contact WHERE email LIKE '%@example.com'")
                .await,
            119
        );
        browser.close().await;
    }
);

both_backends!(
    superoffice_a_selection_built_in_the_filter_box_is_trashed_twice_confirmed_and_restored_exactly,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "boss", "admin", PASSWORD);
        let server = TestServer::start(&database);
        contacts(&database).await;
        // Six prospects registered in 2020; one gave consent, two had activity lately.
        database
            .execute(
                "INSERT INTO contact (first_name, last_name, email, category, legal_basis, created_at, updated_at) \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6) \
                 SELECT 'Old', 'Prospect ' || i, 'old' || i || '@example.com', 'prospect', \
                 CASE WHEN i = 1 THEN 'consent' ELSE 'none' END, \
                 '2020-03-01T00:00:00.000000Z', '2020-03-01T00:00:00.000000Z' FROM n",
            )
            .await;
        database
            .execute(
                "INSERT INTO activity (contact_id, kind, subject, status, happened_at, created_at, updated_at) \
                 SELECT id, 'call', 'a call', 'done', '2026-11-01T00:00:00.000000Z', '2026-11-01T00:00:00.000000Z', \
                 '2026-11-01T00:00:00.000000Z' FROM contact WHERE email IN ('old2@example.com', 'old3@example.com')",
            )
            .await;
        database
            .execute(
                "INSERT INTO activity (contact_id, kind, subject, status, happened_at, created_at, updated_at) \
                 SELECT id, 'call', 'an old call', 'done', '2021-01-01T00:00:00.000000Z', '2021-01-01T00:00:00.000000Z', \
                 '2021-01-01T00:00:00.000000Z' FROM contact WHERE email LIKE 'old%'",
            )
            .await;
        let schema = lethe_schema::Schema::default_crm();
        let before = database.dump_entities(&schema).await;
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(&browser, &server, "/records/contact", "boss", PASSWORD).await;
        browser
            .wait_for_text("#filter-status", "127 matching")
            .await;
        // Prospects, registered before 2021, no consent, no interaction in two years.
        browser
            .fill(
                "#filter",
                "category = \"prospect\" and created_at < 2021-01-01 and legal_basis != \"consent\" and none activity(happened_at > now - 2y)",
            )
            .await;
        browser.wait_for_text("#filter-status", "3 matching").await;
        browser.click(".filter-box button[type=submit]").await;
        browser.wait_for_text("#filter-status", "3 matching").await;
        let text = browser.text("table.records tbody").await;
        for name in ["Prospect 4", "Prospect 5", "Prospect 6"] {
            assert!(text.contains(name), "{name} matches: {text}");
        }
        // Tick two of them and delete, asked twice.
        let rows = browser
            .client()
            .find_all(lethe_testkit::browser::fantoccini::Locator::Css(
                ".tick-row",
            ))
            .await
            .unwrap();
        for row in rows.iter().take(2) {
            row.click().await.unwrap();
        }
        browser.wait_for_text("#ticked-count", "2 ticked").await;
        browser.click("#bulk button[type=submit]").await;
        browser
            .wait_for_text("main h1", "Move 2 contact records and 2 related records")
            .await;
        browser.click("a.button.danger").await;
        browser.fill("#typed", "2").await;
        browser
            .fill("#reason", "no legal basis after three years")
            .await;
        browser.click("button.danger").await;
        browser.wait_for_text("#job-state", "done").await;
        assert_ne!(database.dump_entities(&schema).await, before);

        // They are in the recycle bin, with why; restoring brings back exactly what was.
        browser.click("header a[href='/recycle-bin']").await;
        browser
            .wait_for_text("main", "no legal basis after three years")
            .await;
        browser.click("form[action$='/restore'] button").await;
        browser
            .wait_for_text("main h1", "Restoring from the trash")
            .await;
        browser.wait_for_text("#job-state", "done").await;
        assert_eq!(
            database.dump_entities(&schema).await,
            before,
            "restored exactly"
        );
        browser.close().await;
    }
);
