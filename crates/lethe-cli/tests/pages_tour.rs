//! Every page on the demo data, in a real browser: each one opens, has no serious
//! accessibility problem (axe-core), and is photographed. With `LETHE_SCREENSHOTS=DIR` the
//! pictures go to DIR (`docs/screenshots`, shown in the README, is made this way); without
//! it they go to a scratch folder and are only checked to be pictures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_testkit::browser::Browser;
use support::{TestDatabase, TestServer, lethe, sign_in};

/// Opens `path`, waits for `expected` in the main heading, checks accessibility and takes
/// the picture `name`.png.
async fn visit(
    browser: &Browser,
    server: &TestServer,
    folder: &std::path::Path,
    name: &str,
    path: &str,
    expected: &str,
) {
    browser.goto(&server.endpoint(path)).await;
    photograph(browser, folder, name, expected).await;
}

async fn photograph(browser: &Browser, folder: &std::path::Path, name: &str, expected: &str) {
    browser.wait_for_text("h1", expected).await;
    browser.assert_accessible(name).await;
    let file = folder.join(format!("{name}.png"));
    browser.screenshot(&file).await;
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000,
        "{name}: {} bytes",
        bytes.len()
    );
}

#[tokio::test]
async fn every_page_opens_on_the_demo_data_with_no_serious_accessibility_problem() {
    let Some(database) = TestDatabase::new(lethe_testkit::TestBackend::Sqlite).await else {
        return;
    };
    let built = lethe(
        &database,
        &["demo", "--contacts", "2000", "--no-serve", "--json"],
    );
    assert_eq!(built.status, 0, "{}", built.stderr);
    let password = built.json()["admin_password"].as_str().unwrap().to_owned();
    // Somewhere for notifications to go, so that the deliveries page has messages to show:
    // the admin's address (with no SMTP server set, an e-mail is given up at its first try)
    // and a webhook at a closed port (a message waits for its next try).
    for args in [
        &[
            "user",
            "delivery",
            "admin",
            "--email",
            "admin@lethe.example",
        ][..],
        &[
            "webhook",
            "add",
            "http://127.0.0.1:9/lethe",
            "--events",
            "*",
        ][..],
    ] {
        let run = lethe(&database, args);
        assert_eq!(run.status, 0, "{}", run.stderr);
    }
    let server = TestServer::start(&database);
    let Some(browser) = Browser::start().await else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let folder = std::env::var_os("LETHE_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| scratch.path().to_path_buf());
    std::fs::create_dir_all(&folder).unwrap();

    visit(&browser, &server, &folder, "sign-in", "/sign-in", "Sign in").await;
    sign_in(&browser, &server, "/", "admin", &password).await;
    photograph(&browser, &folder, "home", "Records").await;

    // The records page with a filter, the page ticked and "all matching" offered.
    visit(
        &browser,
        &server,
        &folder,
        "records",
        "/records/contact?filter=category%20%3D%20%22lost%22%20and%20legal_basis%20%3D%20%22none%22",
        "contact records",
    )
    .await;
    browser.wait_for_text("#filter-status", "matching").await;
    browser.click("#tick-page").await;
    browser
        .wait_for_text("#select-all-banner", "on this page are selected")
        .await;
    photograph(&browser, &folder, "records-ticked", "contact records").await;
    browser.click("#select-all-matching").await;
    browser.click("#bulk button[type=submit]").await;
    photograph(&browser, &folder, "trash-preview", "Move").await;
    browser.click("a.button.danger").await;
    photograph(&browser, &folder, "trash-confirm", "Confirm").await;
    let expected = browser
        .find("label[for=typed] strong")
        .await
        .text()
        .await
        .unwrap();
    browser.fill("#typed", &expected).await;
    browser
        .fill("#reason", "lost customers without a legal basis")
        .await;
    browser.click("button.danger").await;
    browser.wait_for_text("#job-state", "done").await;
    photograph(&browser, &folder, "job", "Moving to the trash").await;

    visit(
        &browser,
        &server,
        &folder,
        "record",
        "/records/contact/1",
        "contact 1",
    )
    .await;
    visit(
        &browser,
        &server,
        &folder,
        "recycle-bin",
        "/recycle-bin",
        "Recycle bin",
    )
    .await;
    visit(
        &browser,
        &server,
        &folder,
        "deletions",
        "/deletions",
        "Permanent deletion",
    )
    .await;
    visit(
        &browser,
        &server,
        &folder,
        "selections",
        "/selections",
        "Saved selections",
    )
    .await;
    visit(
        &browser,
        &server,
        &folder,
        "notifications",
        "/notifications",
        "Notifications",
    )
    .await;
    visit(&browser, &server, &folder, "users", "/users", "Users").await;
    visit(&browser, &server, &folder, "user", "/users/admin", "admin").await;
    visit(
        &browser,
        &server,
        &folder,
        "history",
        "/history",
        "Deletion history",
    )
    .await;
    visit(
        &browser,
        &server,
        &folder,
        "deliveries",
        "/deliveries",
        "Deliveries",
    )
    .await;
    visit(
        &browser,
        &server,
        &folder,
        "account",
        "/account",
        "Your account",
    )
    .await;
    browser.close().await;
}
