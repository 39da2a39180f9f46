//! The browser harness itself, on pages the tests write as `data:` URLs: typing into a form
//! and reading the result back, the accessibility check passing a well-formed page and
//! failing a broken one, screenshots, the helpers' failure messages, and no browser process
//! left behind. Each test skips (with a message) when Chromium or chromedriver is not
//! installed, unless `LETHE_REQUIRE_BROWSER=1`.

use lethe_testkit::browser::{Browser, html_data_url, running_processes_in_group};
use serde_json::Value;

/// A small page that is accessible: a language, a title, a main landmark, a heading, a field
/// with its label and a button with a name. Submitting the form writes a greeting.
const WELL_FORMED_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Greeting</title></head>
<body>
<main>
  <h1>Say hello</h1>
  <form id="form">
    <label for="name">Your name</label>
    <input id="name" name="name" type="text" value="text already there">
    <button type="submit">Greet</button>
  </form>
  <p id="greeting" aria-live="polite"></p>
</main>
<script>
  document.getElementById('form').addEventListener('submit', (event) => {
    event.preventDefault();
    const name = document.getElementById('name').value;
    document.getElementById('greeting').textContent = 'Hello, ' + name + ' (100% sure #1)';
  });
</script>
</body>
</html>"#;

/// The same kind of page with a field that has no label and a button with no name.
const BROKEN_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Broken</title></head>
<body>
<main>
  <h1>Say hello</h1>
  <form>
    <input id="nameless" type="text">
    <button id="silent" type="submit"></button>
  </form>
</main>
</body>
</html>"#;

/// The text of a panic's payload.
fn panic_message(error: tokio::task::JoinError) -> String {
    let payload = error.into_panic();
    if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else {
        "<a panic without a message>".to_owned()
    }
}

#[tokio::test]
async fn typing_into_a_form_and_submitting_it_shows_the_result() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.goto(&html_data_url(WELL_FORMED_PAGE)).await;
    assert!(
        browser.current_url().await.starts_with("data:text/html"),
        "the page opened: {}",
        browser.current_url().await
    );

    browser.fill("#name", "Ada Lovelace").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("#greeting", "Hello, Ada").await;

    // `fill` cleared the text the field held; `%` and `#` survived the data URL.
    assert_eq!(
        browser.text("#greeting").await,
        "Hello, Ada Lovelace (100% sure #1)"
    );
    assert!(
        browser
            .page_source()
            .await
            .contains("Hello, Ada Lovelace (100% sure #1)"),
        "the page source holds what the script wrote"
    );
    let typed = browser
        .execute("return document.getElementById('name').value;", vec![])
        .await;
    assert_eq!(typed, Value::from("Ada Lovelace"));
    browser.close().await;
}

#[tokio::test]
async fn a_well_formed_page_has_no_serious_accessibility_violation() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.goto(&html_data_url(WELL_FORMED_PAGE)).await;

    let Some(violations) = browser.accessibility_violations().await else {
        return;
    };
    assert!(violations.is_empty(), "violations: {violations:#?}");
    // Asked twice on one page, axe is loaded once and answers the same.
    browser.assert_accessible("the greeting page").await;
}

#[tokio::test]
async fn an_unlabelled_field_and_a_nameless_button_are_reported() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.goto(&html_data_url(BROKEN_PAGE)).await;

    let Some(violations) = browser.accessibility_violations().await else {
        return;
    };
    let rules: Vec<&str> = violations
        .iter()
        .filter_map(|violation| violation.get("id").and_then(Value::as_str))
        .collect();
    assert!(rules.contains(&"label"), "rules reported: {rules:?}");
    assert!(rules.contains(&"button-name"), "rules reported: {rules:?}");

    // The assertion fails, naming the page, the rules and the elements at fault.
    let outcome = tokio::spawn(async move {
        browser.assert_accessible("the broken page").await;
    })
    .await;
    let message = panic_message(outcome.expect_err("assert_accessible fails on a broken page"));
    for expected in [
        "the broken page",
        "label (critical)",
        "button-name (critical)",
        "#nameless",
        "#silent",
        "data:text/html",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
}

#[tokio::test]
async fn a_screenshot_is_a_png_of_the_whole_window() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.goto(&html_data_url(WELL_FORMED_PAGE)).await;
    let path = browser.scratch_dir().join("page.png");

    browser.screenshot(&path).await;

    let png = std::fs::read(&path).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG signature");
    // The IHDR chunk comes first: width and height, big-endian, at bytes 16 and 20.
    assert!(png.len() > 24, "{} bytes", png.len());
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(width, 1366, "the window is 1366 pixels wide");
}

#[tokio::test]
async fn a_missing_element_fails_naming_the_selector_and_the_page() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.goto(&html_data_url(WELL_FORMED_PAGE)).await;

    let outcome = tokio::spawn(async move {
        browser.click("#no-such-button").await;
    })
    .await;

    let message = panic_message(outcome.expect_err("clicking a missing element fails"));
    assert!(message.contains("`#no-such-button`"), "{message}");
    assert!(message.contains("data:text/html"), "{message}");
}

#[tokio::test]
async fn dropping_the_browser_ends_chromedriver_and_every_chromium_process() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.goto(&html_data_url(WELL_FORMED_PAGE)).await;
    let group = browser.process_group();
    let running = running_processes_in_group(group);
    let browser_processes = running
        .iter()
        .filter(|name| !name.starts_with("chromedriver"))
        .count();
    assert!(
        browser_processes >= 2,
        "Chromium and its helpers run in chromedriver's group: {running:?}"
    );

    drop(browser);

    assert_eq!(running_processes_in_group(group), Vec::<String>::new());
}

/// Not a test on its own: run by `a_test_process_killed_outright_leaves_no_browser_behind`
/// in a process of its own (with `LETHE_BROWSER_TEST_HELPER=1`), it starts a browser, says
/// its process group and waits to be killed.
#[tokio::test]
#[ignore = "a helper of a_test_process_killed_outright_leaves_no_browser_behind"]
async fn helper_starts_a_browser_and_waits_to_be_killed() {
    if std::env::var_os("LETHE_BROWSER_TEST_HELPER").is_none() {
        return;
    }
    let Some(browser) = Browser::start().await else {
        println!("no browser");
        return;
    };
    browser.goto(&html_data_url(WELL_FORMED_PAGE)).await;
    println!("process group {}", browser.process_group());
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    panic!("the helper was not killed within 60 s");
}

#[test]
fn a_test_process_killed_outright_leaves_no_browser_behind() {
    use std::io::BufRead;

    let mut helper = std::process::Command::new(std::env::current_exe().expect("this test"))
        .args([
            "--ignored",
            "--exact",
            "helper_starts_a_browser_and_waits_to_be_killed",
            "--nocapture",
        ])
        .env("LETHE_BROWSER_TEST_HELPER", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the helper");
    let stdout = helper.stdout.take().expect("the helper's output");
    let mut group = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("read the helper's output");
        if line == "no browser" {
            let _ = helper.wait();
            return;
        }
        if let Some(number) = line.strip_prefix("process group ") {
            group = Some(number.parse::<u32>().expect("a process group id"));
            break;
        }
    }
    let Some(group) = group else {
        let status = helper.wait().expect("the helper ends");
        panic!("the helper ended ({status}) without starting a browser");
    };
    let running = running_processes_in_group(group);
    assert!(running.len() >= 3, "a browser is running: {running:?}");

    // SIGKILL: the helper cannot unwind, and its Browser is never dropped.
    helper.kill().expect("kill the helper");
    helper.wait().expect("the helper ends");

    let killed = std::time::Instant::now();
    while !running_processes_in_group(group).is_empty()
        && killed.elapsed() < std::time::Duration::from_secs(10)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(running_processes_in_group(group), Vec::<String>::new());
}
