//! The pages around the records, in a real browser against the real `lethe serve`:
//! Teamleader's blocked companies (listed with the reason in the preview, on the job's page
//! and in the requester's notifications), a record's page with its related records and its
//! way to the trash and back, saved selections, the users pages and the history for admins —
//! and a plain user refused where the policy says so. On both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_testkit::browser::Browser;
use support::{TestDatabase, TestServer, add_user_with_password, both_backends, sign_in};

const BOSS_PASSWORD: &str = "the boss's passphrase";
const CLERK_PASSWORD: &str = "the clerk's passphrase";
const STAMP: &str = "'2026-01-01T00:00:00.000000Z'";

/// Ten lost companies, three with an invoice; a contact with two notes.
async fn data(database: &TestDatabase) {
    database
        .execute(&format!(
            "INSERT INTO company (name, category, created_at, updated_at) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) \
             SELECT 'Lost ' || i, 'lost', {STAMP}, {STAMP} FROM n"
        ))
        .await;
    database
        .execute(&format!(
            "INSERT INTO invoice (company_id, number, amount, issued_at, created_at, updated_at) \
             SELECT id, 'INV-' || id, 100, '2025-01-01', {STAMP}, {STAMP} FROM company \
             WHERE name IN ('Lost 1', 'Lost 2', 'Lost 3')"
        ))
        .await;
    database
        .execute(&format!(
            "INSERT INTO contact (first_name, last_name, email, category, legal_basis, created_at, updated_at) \
             VALUES ('Ada', 'Lovelace', 'ada@example.com', 'prospect', 'none', {STAMP}, {STAMP})"
        ))
        .await;
    for body in ["a note", "another note"] {
        database
            .execute(&format!(
                "INSERT INTO note (contact_id, body, created_at, updated_at) \
                 SELECT id, '{body}', {STAMP}, {STAMP} FROM contact WHERE email = 'ada@example.com'"
            ))
            .await;
    }
}

both_backends!(
    blocked_companies_are_listed_with_the_reason_and_the_requester_is_told,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "boss", "admin", BOSS_PASSWORD);
        let server = TestServer::start(&database);
        data(&database).await;
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(
            &browser,
            &server,
            "/records/company?filter=category%20%3D%20%22lost%22",
            "boss",
            BOSS_PASSWORD,
        )
        .await;
        browser.wait_for_text("#filter-status", "10 matching").await;
        browser.click("#tick-page").await;
        browser.wait_for_text("#ticked-count", "10 ticked").await;
        browser.click("#bulk button[type=submit]").await;

        browser
            .wait_for_text("main h1", "Move 7 company records")
            .await;
        browser
            .wait_for_text("main", "Blocked: 3 records stay")
            .await;
        let preview = browser.text("main").await;
        assert!(
            preview.contains("invoice"),
            "the reason names the invoices: {preview}"
        );
        browser.click("a.button.danger").await;
        browser.fill("#typed", "10").await;
        browser.click("button.danger").await;
        browser.wait_for_text("#job-state", "done").await;
        browser.wait_for_text("main", "Skipped: 3 records").await;
        let blocked = database
            .scalar("SELECT COUNT(*) FROM company WHERE trash_batch_id IS NULL AND id > 0")
            .await;
        assert_eq!(blocked, 3, "the companies with invoices stay");

        // The requester's notification names them; the header counts it unread.
        browser.wait_for_text("header", "1 unread").await;
        browser.click("header a.unread").await;
        browser.wait_for_text("main h1", "Notifications").await;
        let feed = browser.text(".feed").await;
        assert!(
            feed.contains("3 not trashed because a rule blocks them"),
            "{feed}"
        );
        assert_eq!(feed.matches(": 1 invoice (").count(), 3, "{feed}");
        browser.assert_accessible("notifications").await;
        browser.click("main button[type=submit]").await;
        browser.wait_for_text("header", "Notifications").await;
        browser.close().await;
    }
);

both_backends!(
    a_record_page_shows_what_belongs_to_it_and_goes_to_the_trash_and_back,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "clerk", "user", CLERK_PASSWORD);
        let server = TestServer::start(&database);
        data(&database).await;
        let ada = database
            .scalar("SELECT id FROM contact WHERE email = 'ada@example.com'")
            .await;
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(
            &browser,
            &server,
            &format!("/records/contact/{ada}"),
            "clerk",
            CLERK_PASSWORD,
        )
        .await;
        browser
            .wait_for_text("main h1", &format!("contact {ada}"))
            .await;
        assert!(browser.text("table.fields").await.contains("Lovelace"));
        let related = browser.text("main").await;
        assert!(related.contains("note"), "{related}");
        browser.assert_accessible("record").await;

        // One record is anyone's to trash; it says what goes with it.
        browser.click("main button.danger").await;
        browser
            .wait_for_text("main h1", "Move 1 contact record and 2 related records")
            .await;
        browser.click("a.button.danger").await;
        browser.fill("#typed", "1").await;
        browser.click("button.danger").await;
        browser.wait_for_text("#job-state", "done").await;
        browser
            .goto(&server.endpoint(&format!("/records/contact/{ada}")))
            .await;
        browser.wait_for_text("main h1", "is in the trash").await;
        browser.assert_accessible("record in the trash").await;
        browser.click("main button.primary").await;
        browser.wait_for_text("#job-state", "done").await;
        browser
            .goto(&server.endpoint(&format!("/records/contact/{ada}")))
            .await;
        browser.wait_for_text("table.fields", "Lovelace").await;
        let notes = database
            .scalar("SELECT COUNT(*) FROM note WHERE trash_batch_id IS NULL AND id > 0")
            .await;
        assert_eq!(notes, 2, "the notes came back with her");

        // The admins' pages refuse a plain user, and change nothing.
        for path in ["/users", "/users/clerk", "/history"] {
            browser.goto(&server.endpoint(path)).await;
            browser.wait_for_text("main h1", "Not allowed").await;
        }
        browser.goto(&server.endpoint("/")).await;
        let navigation = browser.text("header nav").await;
        assert!(navigation.contains("Recycle bin"), "{navigation}");
        assert!(!navigation.contains("Users"), "{navigation}");
        browser.close().await;
    }
);

both_backends!(
    saved_selections_are_made_checked_changed_and_acted_on,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "boss", "admin", BOSS_PASSWORD);
        let server = TestServer::start(&database);
        data(&database).await;
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(&browser, &server, "/selections", "boss", BOSS_PASSWORD).await;
        browser.wait_for_text("main h1", "Saved selections").await;
        browser.assert_accessible("selections").await;

        // A wrong filter is shown next to the form, the name kept; nothing is saved.
        browser.fill("#sel-name", "lost-companies").await;
        browser.choose("#sel-entity", "company").await;
        browser.fill("#sel-filter", "category = lost").await;
        browser.click(".selection-form button[type=submit]").await;
        browser.wait_for_text("#sel-definition-error", "1:").await;
        let kept = browser.find("#sel-name").await.prop("value").await.unwrap();
        assert_eq!(kept.as_deref(), Some("lost-companies"));
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_selection")
                .await,
            0
        );

        browser.fill("#sel-filter", "category = \"lost\"").await;
        browser.click(".selection-form button[type=submit]").await;
        browser
            .wait_for_text("main h1", "lost-companies: 10 company records")
            .await;
        browser.assert_accessible("selection").await;
        // Changed to the companies without invoices.
        browser
            .fill("#sel-filter", "category = \"lost\" and none invoice")
            .await;
        browser.click(".selection-form button[type=submit]").await;
        browser
            .wait_for_text("main h1", "lost-companies: 7 company records")
            .await;
        // Acting on all of them leads to the preview of exactly those.
        browser.click("main form[action$='/trash'] button").await;
        browser
            .wait_for_text("main h1", "Move 7 company records")
            .await;
        browser
            .goto(&server.endpoint("/selections/lost-companies"))
            .await;
        browser.click("form[action$='/delete'] button").await;
        browser
            .wait_for_text("main", "No saved selection yet")
            .await;
        browser.close().await;
    }
);

both_backends!(
    an_admin_manages_users_and_reads_the_history_on_their_pages,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "boss", "admin", BOSS_PASSWORD);
        let server = TestServer::start(&database);
        let Some(browser) = Browser::start().await else {
            return;
        };
        sign_in(&browser, &server, "/users", "boss", BOSS_PASSWORD).await;
        browser.wait_for_text("main h1", "Users").await;
        browser.assert_accessible("users").await;

        // A short password is refused next to its field; the name stays as typed.
        browser.fill("#add-name", "clerk").await;
        browser.fill("#add-password", "short").await;
        browser.fill("#add-repeat", "short").await;
        browser.click("main form button[type=submit]").await;
        browser
            .wait_for_text("#add-password-error", "at least 12")
            .await;
        assert_eq!(database.scalar("SELECT COUNT(*) FROM lethe_user").await, 1);
        browser.fill("#add-password", CLERK_PASSWORD).await;
        browser.fill("#add-repeat", CLERK_PASSWORD).await;
        browser.click("main form button[type=submit]").await;
        browser.wait_for_text(".note", "clerk was added").await;
        assert!(browser.text(".note code").await.starts_with("lethe_"));

        // The clerk's page: make them an admin, then remove them once the name is typed.
        browser.goto(&server.endpoint("/users/clerk")).await;
        browser.assert_accessible("user").await;
        browser.choose("#role", "admin").await;
        browser.click("form[action$='/role'] button").await;
        browser.wait_for_text(".note", "The role was changed").await;
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_user WHERE name = 'clerk' AND role = 'admin'")
                .await,
            1
        );
        browser.fill("#typed", "clerc").await;
        browser.click("form[action$='/remove'] button").await;
        browser
            .wait_for_text("#remove-error", "Nothing was changed")
            .await;
        browser.fill("#typed", "clerk").await;
        browser.click("form[action$='/remove'] button").await;
        browser.wait_for_text("main h1", "Users").await;
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_user WHERE removed_at IS NOT NULL")
                .await,
            1
        );

        // The history, narrowed to what was done to users; a wrong day is shown at its field.
        browser.goto(&server.endpoint("/history?action=user")).await;
        browser
            .wait_for_text("table.history", "user.role_changed")
            .await;
        let table = browser.text("table.history").await;
        assert!(table.contains("user.removed"), "{table}");
        assert!(!table.contains("token."), "only user actions: {table}");
        browser.assert_accessible("history").await;
        browser
            .goto(&server.endpoint("/history?since=yesterday"))
            .await;
        browser.wait_for_text("#since-error", "YYYY-MM-DD").await;
        browser.close().await;
    }
);
