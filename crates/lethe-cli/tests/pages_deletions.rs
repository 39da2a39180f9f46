//! The recycle bin and the permanent deletion console, in a real browser against the real
//! `lethe serve`: APRO's console (two admins; one requests a purge with the default grace,
//! the other sees it pending in red, cancels it; a purge with no grace runs and leaves a
//! receipt to read and download), the helpdesk's "delete forever" (a requester's tickets go,
//! their comment on someone else's ticket stays as the "Deleted User"'s), and what a plain
//! user may not do. On both backends; every page checked for accessibility.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_testkit::browser::Browser;
use serde_json::{Value, json};
use support::{TestDatabase, TestServer, add_user_with_password, both_backends, lethe, sign_in};

const PASSWORD: &str = "a long enough passphrase";

/// The server lets the pages ask for no grace at all (an urgent erasure), as an operator
/// who allows it configures; the default grace stays the built-in 7 days.
fn server(database: &TestDatabase) -> TestServer {
    TestServer::start_with_env(database, &[("LETHE_PURGE_MIN_GRACE", "0s")])
}

/// `count` contacts whose last name starts with `prefix`, each with `notes` notes.
async fn contacts(database: &TestDatabase, prefix: &str, count: u32, notes: u32) {
    database
        .execute(&format!(
            "INSERT INTO contact (first_name, last_name, email, category, legal_basis, created_at, updated_at) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
             SELECT 'Person', '{prefix}' || i, '{prefix}' || i || '@example.com', 'prospect', 'none', \
             '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z' FROM n"
        ))
        .await;
    for _ in 0..notes {
        database
            .execute(&format!(
                "INSERT INTO note (contact_id, body, created_at, updated_at) \
                 SELECT id, 'met at the fair', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z' \
                 FROM contact WHERE last_name LIKE '{prefix}%'"
            ))
            .await;
    }
}

/// Trashes the contacts `filter` picks with the `lethe trash` command, as `user`; returns
/// the deletion batch.
async fn trash(database: &TestDatabase, filter: &str, user: &str, reason: &str) -> i64 {
    let run = lethe(
        database,
        &[
            "trash", "contact", filter, "--yes", "--reason", reason, "--as", user, "--json",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    database
        .scalar("SELECT MAX(id) FROM lethe_deletion_batch")
        .await
}

async fn batch_state(database: &TestDatabase, batch: i64) -> String {
    let states = [
        "trashing",
        "trashed",
        "purge_pending",
        "held",
        "purged",
        "restored",
    ];
    for (index, state) in states.iter().enumerate() {
        let found = database
            .scalar(&format!(
                "SELECT COUNT(*) FROM lethe_deletion_batch WHERE id = {batch} AND state = '{state}'"
            ))
            .await;
        if found == 1 {
            return states[index].to_owned();
        }
    }
    panic!("deletion batch {batch} has no known state")
}

/// The job page's id, from the browser's address (`/jobs/{id}`).
async fn job_on_page(browser: &Browser) -> i64 {
    let url = browser.current_url().await;
    url.rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not a job page: {url}"))
}

/// A GET from the page's own origin with its cookies, synchronously: status,
/// `Content-Disposition` and body.
async fn fetch_in_page(browser: &Browser, path: &str) -> (u16, String, String) {
    let answer = browser
        .execute(
            "const request = new XMLHttpRequest(); request.open('GET', arguments[0], false); request.send(); \
             return [request.status, request.getResponseHeader('Content-Disposition') || '', request.responseText];",
            vec![json!(path)],
        )
        .await;
    (
        answer[0].as_u64().unwrap() as u16,
        answer[1].as_str().unwrap().to_owned(),
        answer[2].as_str().unwrap().to_owned(),
    )
}

/// From the recycle bin, requests the permanent deletion of `batch` through the preview
/// and the confirmation, with `grace_days` (`None`: the default the form starts with).
async fn request_purge(
    browser: &Browser,
    server: &TestServer,
    batch: i64,
    grace_days: Option<&str>,
) {
    browser.goto(&server.endpoint("/recycle-bin")).await;
    browser
        .click(&format!("#batch-{batch} a.button.danger"))
        .await;
    browser.wait_for_text("main h1", "for good?").await;
    browser.click("a.button.danger").await;
    browser.wait_for_text("main h1", "Confirm: erase").await;
    if let Some(days) = grace_days {
        browser.fill("#grace_days", days).await;
    }
    browser.fill("#typed", "purge").await;
    browser.click("#purge-button").await;
    browser.wait_for_text("main h1", "Purging for good").await;
}

both_backends!(
    two_admins_request_cancel_and_run_a_purge_with_its_receipt,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "ann", "admin", PASSWORD);
        add_user_with_password(&database, "bob", "admin", PASSWORD);
        let server = server(&database);
        contacts(&database, "Stale", 5, 2).await;
        contacts(&database, "Kept", 2, 0).await;
        let batch = trash(
            &database,
            "last_name starts_with \"Stale\"",
            "ann",
            "inactive prospects",
        )
        .await;
        let Some(browser) = Browser::start().await else {
            return;
        };

        // Ann sees the batch in the recycle bin and asks for its permanent deletion.
        sign_in(&browser, &server, "/recycle-bin", "ann", PASSWORD).await;
        browser.wait_for_text("main h1", "Recycle bin").await;
        let row = browser.text(&format!("#batch-{batch}")).await;
        for expected in [
            "ann",
            "inactive prospects",
            "5 contact, 10 note",
            "in the trash",
            "29 days",
        ] {
            assert!(row.contains(expected), "{expected:?} in {row}");
        }
        browser.assert_accessible("recycle bin").await;
        browser
            .click(&format!("#batch-{batch} a.button.danger"))
            .await;
        browser
            .wait_for_text(
                "main h1",
                "Erase 5 contact records and 10 related records for good?",
            )
            .await;
        assert!(browser.text("main").await.contains("note"));
        browser.assert_accessible("purge preview").await;
        browser.click("a.button.danger").await;
        browser.wait_for_text("main h1", "Confirm: erase").await;
        browser.assert_accessible("purge confirmation").await;
        assert_eq!(
            browser.text("#purge-button").await,
            "Erase 5 contact records and 10 related records for good after 7 days"
        );
        // The wrong word is refused next to its field, and nothing is requested.
        browser.fill("#typed", "delete").await;
        browser.click("#purge-button").await;
        browser
            .wait_for_text("#typed-error", "Nothing was requested")
            .await;
        assert_eq!(batch_state(&database, batch).await, "trashed");
        browser.fill("#typed", "purge").await;
        browser.click("#purge-button").await;
        browser.wait_for_text("main h1", "Purging for good").await;
        browser.wait_for_text("#job-state", "pending").await;
        let first_purge = job_on_page(&browser).await;
        assert_eq!(batch_state(&database, batch).await, "purge_pending");
        // Its job page says it waits and offers the cancel (tried by Bob on the console).
        assert!(
            browser
                .text("#pending-title")
                .await
                .starts_with("Waiting for its grace period until")
        );
        assert_eq!(
            browser.text("section.pending button").await,
            "Cancel this purge"
        );
        let told = database
            .scalar(&format!(
                "SELECT COUNT(DISTINCT user_id) FROM lethe_notification WHERE kind = 'purge_requested' AND job_id = {first_purge}"
            ))
            .await;
        assert_eq!(told, 2, "every admin is told of the request");
        browser.click("header button[type=submit]").await;
        browser.wait_for_text(".note", "You signed out").await;

        // Bob sees it pending, in red, with its time left, and cancels it.
        sign_in(&browser, &server, "/deletions", "bob", PASSWORD).await;
        browser.wait_for_text("main h1", "Permanent deletion").await;
        let pending = browser.text(&format!("#purge-{first_purge}")).await;
        assert!(
            pending.contains("ann") && pending.contains("5 contact"),
            "{pending}"
        );
        assert!(
            pending.contains("6 days") || pending.contains("7 days"),
            "{pending}"
        );
        let class = browser
            .find(&format!("#purge-{first_purge}"))
            .await
            .attr("class")
            .await
            .unwrap();
        assert_eq!(class.as_deref(), Some("pending"));
        let stats = browser.text("table.stats tbody").await;
        assert!(stats.contains("contact"), "{stats}");
        assert!(browser.text(".history-status").await.starts_with("Intact"));
        browser
            .assert_accessible("permanent deletion console")
            .await;
        browser.click(&format!("#purge-{first_purge} button")).await;
        browser.wait_for_text(".note", "was cancelled").await;
        assert_eq!(batch_state(&database, batch).await, "trashed");

        // Asked again with no grace, the purge runs at once.
        request_purge(&browser, &server, batch, Some("0")).await;
        browser.wait_for_text("#job-state", "done").await;
        let second_purge = job_on_page(&browser).await;
        // The finished job page links to the receipt once the page shows the end.
        browser
            .goto(&server.endpoint(&format!("/jobs/{second_purge}")))
            .await;
        assert_eq!(browser.count("section.pending").await, 0);
        browser
            .find(&format!("main a[href='/purges/{second_purge}/receipt']"))
            .await;
        assert_eq!(batch_state(&database, batch).await, "purged");
        let left = database
            .scalar("SELECT COUNT(*) FROM contact WHERE last_name LIKE 'Stale%'")
            .await;
        assert_eq!(left, 0, "the purged contacts are gone");
        let kept = database
            .scalar("SELECT COUNT(*) FROM contact WHERE last_name LIKE 'Kept%'")
            .await;
        assert_eq!(kept, 2);

        // Its receipt is on the console, as a page and as a download.
        browser.goto(&server.endpoint("/deletions")).await;
        browser
            .click(&format!("#purge-{second_purge} a[href$='/receipt']"))
            .await;
        browser.wait_for_text("main h1", "Erasure receipt").await;
        let receipt_page = browser.text("table.receipt").await;
        assert!(receipt_page.contains("erased: contact"), "{receipt_page}");
        browser.assert_accessible("erasure receipt").await;
        let (status, disposition, body) =
            fetch_in_page(&browser, &format!("/purges/{second_purge}/receipt.json")).await;
        assert_eq!(status, 200, "{body}");
        assert!(disposition.starts_with("attachment"), "{disposition}");
        let receipt: Value = serde_json::from_str(&body).expect("the receipt is JSON");
        assert_eq!(receipt["job"], json!(second_purge));
        assert_eq!(receipt["erased"]["contact"], json!(5));
        browser.close().await;
    }
);

both_backends!(
    deleting_a_requester_forever_keeps_their_comment_on_another_ticket_as_the_deleted_user,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "agent", "admin", PASSWORD);
        let server = server(&database);
        contacts(&database, "Requester", 1, 0).await;
        contacts(&database, "Other", 1, 0).await;
        let requester = database
            .scalar("SELECT id FROM contact WHERE last_name = 'Requester1'")
            .await;
        let other = database
            .scalar("SELECT id FROM contact WHERE last_name = 'Other1'")
            .await;
        let at = "'2026-01-02T00:00:00.000000Z'";
        for (contact, subject) in [
            (requester, "printer broken"),
            (requester, "login fails"),
            (other, "invoice wrong"),
        ] {
            database
                .execute(&format!(
                    "INSERT INTO ticket (contact_id, subject, status, created_at, updated_at) VALUES ({contact}, '{subject}', 'open', {at}, {at})"
                ))
                .await;
        }
        let others_ticket = database
            .scalar("SELECT id FROM ticket WHERE subject = 'invoice wrong'")
            .await;
        database
            .execute(&format!(
                "INSERT INTO ticket_comment (ticket_id, contact_id, body, created_at, updated_at) VALUES ({others_ticket}, {requester}, 'same problem here', {at}, {at})"
            ))
            .await;
        let comment = database
            .scalar("SELECT id FROM ticket_comment WHERE body = 'same problem here'")
            .await;
        let batch = trash(
            &database,
            "last_name = \"Requester1\"",
            "agent",
            "asked to be deleted",
        )
        .await;
        let Some(browser) = Browser::start().await else {
            return;
        };

        sign_in(&browser, &server, "/recycle-bin", "agent", PASSWORD).await;
        browser.wait_for_text("main h1", "Recycle bin").await;
        browser
            .click(&format!("#batch-{batch} a.button.danger"))
            .await;
        browser.wait_for_text("main h1", "for good?").await;
        let preview = browser.text("main").await;
        assert!(
            preview.contains("ticket_comment"),
            "the comment is rewritten: {preview}"
        );
        request_purge(&browser, &server, batch, Some("0")).await;
        browser.wait_for_text("#job-state", "done").await;

        let tickets = database
            .scalar(&format!(
                "SELECT COUNT(*) FROM ticket WHERE contact_id = {requester}"
            ))
            .await;
        assert_eq!(tickets, 0, "the tickets they requested are gone");
        let gone = database
            .scalar(&format!(
                "SELECT COUNT(*) FROM contact WHERE id = {requester}"
            ))
            .await;
        assert_eq!(gone, 0);
        let kept = database
            .scalar(&format!(
                "SELECT COUNT(*) FROM ticket_comment WHERE id = {comment} AND ticket_id = {others_ticket} AND contact_id = 0 AND body = '[comment by a deleted user]'"
            ))
            .await;
        assert_eq!(kept, 1, "the comment stays, the Deleted User's, anonymised");
        let placeholder = database
            .scalar("SELECT COUNT(*) FROM contact WHERE id = 0")
            .await;
        assert_eq!(placeholder, 1, "the Deleted User placeholder (id 0) stays");
        browser.close().await;
    }
);

both_backends!(
    a_plain_user_sees_only_their_own_batches_and_no_purge,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "boss", "admin", PASSWORD);
        add_user_with_password(&database, "uma", "user", PASSWORD);
        add_user_with_password(&database, "ulf", "user", PASSWORD);
        let server = server(&database);
        contacts(&database, "Mine", 1, 0).await;
        contacts(&database, "Theirs", 1, 0).await;
        let mine = trash(&database, "last_name = \"Mine1\"", "uma", "duplicate").await;
        let theirs = trash(
            &database,
            "last_name = \"Theirs1\"",
            "ulf",
            "private matter",
        )
        .await;
        let Some(browser) = Browser::start().await else {
            return;
        };

        // No console for her: the policy's refusal, and nothing else.
        sign_in(&browser, &server, "/deletions", "uma", PASSWORD).await;
        browser.wait_for_text("main h1", "Not allowed").await;
        assert!(browser.text("main").await.contains("for admins only"));
        let (status, _, body) = fetch_in_page(&browser, "/deletions").await;
        assert_eq!(status, 403);
        assert!(!body.contains("Pending purges"));

        // Her recycle bin holds her batch only, with no purge to ask for.
        browser.goto(&server.endpoint("/recycle-bin")).await;
        browser.wait_for_text("main h1", "Recycle bin").await;
        let main = browser.text("main").await;
        assert!(main.contains("duplicate"), "{main}");
        assert!(!main.contains("private matter"), "{main}");
        assert!(!main.contains("Request permanent deletion"), "{main}");
        assert!(!browser.text("header").await.contains("Permanent deletion"));
        let (status, _, _) = fetch_in_page(&browser, &format!("/batches/{mine}/purge")).await;
        assert_eq!(status, 403, "no purge preview for a user");

        // Restoring another user's batch is refused with the policy's words; nothing moves.
        browser
            .execute(
                "const form = document.querySelector(\"form[action$='/restore']\"); \
                 form.action = '/batches/' + arguments[0] + '/restore'; form.submit();",
                vec![json!(theirs)],
            )
            .await;
        browser.wait_for_text("main h1", "Not allowed").await;
        assert!(
            browser
                .text("main")
                .await
                .contains(&format!("the user who trashed deletion batch {theirs}")),
            "{}",
            browser.text("main").await
        );
        assert_eq!(batch_state(&database, theirs).await, "trashed");
        let still = database
            .scalar("SELECT COUNT(*) FROM contact WHERE last_name = 'Theirs1' AND trash_batch_id IS NOT NULL")
            .await;
        assert_eq!(still, 1);

        // Her own comes back.
        browser.goto(&server.endpoint("/recycle-bin")).await;
        browser
            .click(&format!("#batch-{mine} button[type=submit]"))
            .await;
        browser
            .wait_for_text("main h1", "Restoring from the trash")
            .await;
        browser.wait_for_text("#job-state", "done").await;
        assert_eq!(batch_state(&database, mine).await, "restored");
        browser.close().await;
    }
);
