//! A real browser for tests of Lethe's web pages: headless Chromium driven through
//! chromedriver (WebDriver) with the `fantoccini` crate, and accessibility checks with
//! axe-core run inside the page.
//!
//! chromedriver is found at `LETHE_CHROMEDRIVER` (default `/usr/bin/chromedriver`) and
//! Chromium at `LETHE_CHROMIUM` (default `/usr/bin/chromium`); Debian's `chromium` and
//! `chromium-driver` packages put them there. When either is missing, [`Browser::start`] says
//! the test is skipped and returns `None` — unless `LETHE_REQUIRE_BROWSER=1` (as in CI), where
//! that is a failure. axe-core is read from `tests/browser/node_modules` (installed by
//! `npm ci --prefix tests/browser`), under the same rule.
//!
//! Every [`Browser`] has a chromedriver of its own on a free port and a fresh Chromium profile
//! in a temporary folder, so tests run side by side without sharing cookies or storage.
//! chromedriver runs in a process group of its own, which holds the Chromium it starts and
//! every helper process Chromium starts in turn: dropping the `Browser` kills the whole group,
//! so a test leaves no browser behind, whether it passed or panicked — and a watchdog in that
//! group kills it when the test process is killed outright (a Ctrl-C, a timeout).
//!
//! The helpers panic when something is not as the test expects, naming the CSS selector and
//! the page's URL, so a failing page test says where it failed. For anything they do not
//! cover, [`Browser::client`] gives the fantoccini client itself.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The WebDriver client library, for what the helpers do not cover.
pub use fantoccini;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long [`Browser::find`] and the helpers built on it wait for an element to appear.
const FIND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Browser::wait_for_text`] waits for the text to show.
const TEXT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a new chromedriver may take to answer.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the waits look again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The command that installs the browser on Debian or Ubuntu, for the messages.
const APT_INSTALL: &str = "apt-get install -y chromium chromium-driver";

/// Chromium's switches. `--headless` and `--no-sandbox` because tests run without a display
/// and as root in CI; `--disable-dev-shm-usage` because `/dev/shm` is small in containers; the
/// `--disable-*` switches for background work (updates, sync, pings to Google's services)
/// that would reach for the network, which a test machine does not have, and slow a test
/// down; a fixed window size so screenshots and layouts are the same on every machine.
const CHROMIUM_SWITCHES: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1366,900",
];

fn browser_required() -> bool {
    std::env::var("LETHE_REQUIRE_BROWSER").is_ok_and(|value| value == "1")
}

/// The program at `$variable`, else at `default`; `None` (with a message saying the test is
/// skipped) when there is no file there and the browser is not required.
fn find_program(name: &str, variable: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if path.is_file() {
        return Some(path);
    }
    if browser_required() {
        panic!(
            "a browser is required (LETHE_REQUIRE_BROWSER=1) but {name} was not found at {} \
             (set {variable}, or install it with `{APT_INSTALL}`)",
            path.display()
        );
    }
    eprintln!(
        "skipping a browser test: {name} was not found at {} (set {variable}, or `{APT_INSTALL}`)",
        path.display()
    );
    None
}

/// axe-core's script, installed by `npm ci --prefix tests/browser` at the workspace root.
pub fn axe_core_path() -> PathBuf {
    // This crate is `crates/lethe-testkit` in the workspace.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace folder");
    workspace.join("tests/browser/node_modules/axe-core/axe.min.js")
}

/// axe-core's script; `None` (with a message saying the check is skipped) when it is not
/// installed and the browser is not required.
fn axe_core_source() -> Option<String> {
    let path = axe_core_path();
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(error) => {
            if browser_required() {
                panic!(
                    "axe-core is required (LETHE_REQUIRE_BROWSER=1) but {} cannot be read \
                     ({error}): run `npm ci --prefix tests/browser` at the workspace root",
                    path.display()
                );
            }
            eprintln!(
                "skipping an accessibility check: axe-core is not installed at {} ({error}); \
                 run `npm ci --prefix tests/browser`",
                path.display()
            );
            None
        }
    }
}

/// A `data:` URL holding `html`, to open a page a test writes itself without a server.
/// Everything but letters, digits and `-._~` is percent-encoded, so `#`, `%` and spaces in
/// the page survive.
pub fn html_data_url(html: &str) -> String {
    let mut url = String::from("data:text/html;charset=utf-8,");
    for byte in html.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

/// A chromedriver process in a process group of its own, with a watchdog in the same group.
/// Dropping it kills the group — chromedriver, the Chromium it started, Chromium's helpers
/// and the watchdog — and waits until they are gone, so the profile folder can be removed
/// after it.
///
/// The group keeps signals meant for the test process (a Ctrl-C, a test runner's timeout)
/// from reaching chromedriver, so a test process that dies without unwinding would leave the
/// browser running. The watchdog covers that: a shell waiting to read its standard input, a
/// pipe whose other end only this process holds. When this process ends, however it ends,
/// the pipe closes and the watchdog kills the group.
#[derive(Debug)]
struct Driver {
    process: Child,
    watchdog: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    fn start(program: &Path, folder: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let log = folder.join("chromedriver.log");
        let log_file = std::fs::File::create(&log).expect("create chromedriver's log file");
        let mut process = Command::new(program)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("share chromedriver's log file"))
            .stderr(log_file)
            // A group of its own, which Chromium and its helpers join: one signal ends them.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", program.display()));
        let group = process.id();
        let watchdog = Command::new("sh")
            .args([
                "-c",
                r#"trap '' HUP INT TERM; read -r _; kill -s KILL -- "-$1""#,
                "lethe-browser-watchdog",
            ])
            .arg(group.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(i32::try_from(group).expect("a process id fits an i32"))
            .spawn();
        let watchdog = match watchdog {
            Ok(watchdog) => watchdog,
            Err(error) => {
                let _ = process.kill();
                let _ = process.wait();
                panic!("start the browser's watchdog (sh): {error}");
            }
        };
        Driver {
            process,
            watchdog,
            port,
            log,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What chromedriver (and Chromium, through it) wrote so far, for failure messages.
    fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Waits until chromedriver answers `GET /status` with `"ready": true`.
    async fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.process.try_wait() {
                panic!(
                    "chromedriver exited ({status}) before it answered; its output:\n{}",
                    self.log_text()
                );
            }
            if self.answers_ready().await {
                return;
            }
            if started.elapsed() > DRIVER_START_TIMEOUT {
                panic!(
                    "chromedriver did not answer on port {} within {} s; its output:\n{}",
                    self.port,
                    DRIVER_START_TIMEOUT.as_secs(),
                    self.log_text()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn answers_ready(&self) -> bool {
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        // chromedriver refuses HTTP/1.0.
        let request = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if stream.write_all(request.as_bytes()).await.is_err() {
            return false;
        }
        // Read until the answer says it is ready, or ends, or stalls.
        let mut response = Vec::new();
        let mut chunk = [0_u8; 4096];
        loop {
            let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut chunk)).await;
            let Ok(Ok(count @ 1..)) = read else {
                return false;
            };
            response.extend_from_slice(&chunk[..count]);
            let text = String::from_utf8_lossy(&response).replace([' ', '\n'], "");
            if text.contains("\"ready\":true") {
                return true;
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = rustix::process::Pid::from_child(&self.process);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.process.wait();
        let _ = self.watchdog.wait();
        // Chromium's processes are chromedriver's children, not ours, and are reaped by
        // whoever adopts them, some time later. Wait (briefly) until none of them is still
        // running, so none is writing into the profile folder when it is removed.
        let started = Instant::now();
        while !running_processes_in_group(self.process.id()).is_empty()
            && started.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The names of the processes in process group `group` that are still running (dead ones
/// not yet reaped are left out), from `/proc`. [`Browser::process_group`] is a browser's.
pub fn running_processes_in_group(group: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        // Processes come and go while we look: one that is gone is simply not counted.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `PID (NAME) STATE PPID PGRP …`; the name may hold spaces and parentheses, so the
        // fields are counted from the last `)`.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        let (Some(state), Some(_parent), Some(process_group)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if process_group == group.to_string() && state != "Z" && state != "X" {
            names.push(stat[open + 1..close].to_owned());
        }
    }
    names
}

/// A headless Chromium with a fresh profile, driven through a chromedriver of its own.
///
/// ```ignore
/// let Some(browser) = Browser::start().await else { return };
/// browser.goto(&format!("{}/contacts", app.address)).await;
/// browser.fill("#search", "Nordlys").await;
/// browser.click("button[type=submit]").await;
/// browser.wait_for_text("main", "Nordlys AS").await;
/// browser.assert_accessible("the contact list").await;
/// ```
#[derive(Debug)]
pub struct Browser {
    // Fields drop in this order: the client (its session), then chromedriver and every
    // Chromium process, then the folder with the profile and chromedriver's log.
    client: Client,
    driver: Driver,
    folder: tempfile::TempDir,
}

impl Browser {
    /// A new browser, ready on a blank page; `None` when chromedriver or Chromium is not
    /// installed and `LETHE_REQUIRE_BROWSER` is not `1` (a message says the test is skipped).
    pub async fn start() -> Option<Browser> {
        let chromedriver = find_program(
            "chromedriver",
            "LETHE_CHROMEDRIVER",
            "/usr/bin/chromedriver",
        )?;
        let chromium = find_program("Chromium", "LETHE_CHROMIUM", "/usr/bin/chromium")?;
        let folder = tempfile::tempdir().expect("a temporary folder");
        let profile = folder.path().join("profile");
        // From here on, a panic drops the driver, which ends chromedriver and any Chromium.
        let mut driver = Driver::start(&chromedriver, folder.path());
        driver.wait_until_ready().await;

        let mut switches: Vec<String> = CHROMIUM_SWITCHES
            .iter()
            .map(|switch| (*switch).to_owned())
            .collect();
        switches.push(format!("--user-data-dir={}", profile.display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": chromium.display().to_string(), "args": switches }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "chromedriver could not start Chromium ({}): {error}; its output:\n{}",
                    chromium.display(),
                    driver.log_text()
                )
            });
        Some(Browser {
            client,
            driver,
            folder,
        })
    }

    /// The fantoccini client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The process group of this browser's chromedriver, which holds Chromium and its helpers
    /// (see [`running_processes_in_group`]).
    pub fn process_group(&self) -> u32 {
        self.driver.process.id()
    }

    /// The folder holding this browser's profile (removed on drop), for files a test makes.
    pub fn scratch_dir(&self) -> &Path {
        self.folder.path()
    }

    /// Ends the browser session cleanly (chromedriver closes Chromium), then stops
    /// chromedriver. Dropping the browser ends everything too, only less politely.
    pub async fn close(self) {
        let Browser {
            client,
            driver,
            folder,
        } = self;
        if let Err(error) = client.close().await {
            panic!(
                "closing the browser session failed: {error}; chromedriver's output:\n{}",
                driver.log_text()
            );
        }
        drop(driver);
        drop(folder);
    }

    /// The page's URL, or a note saying why it is not known (for failure messages).
    async fn url_for_message(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(error) => format!("<URL unknown: {error}>"),
        }
    }

    /// `what` went wrong, followed by the page's URL: the message a helper panics with.
    async fn at_url(&self, what: String) -> String {
        format!("{what} (at {})", self.url_for_message().await)
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        if let Err(error) = self.client.goto(url).await {
            panic!(
                "{}",
                self.at_url(format!("could not open {url}: {error}")).await
            );
        }
    }

    /// The URL of the page shown now.
    pub async fn current_url(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(error) => panic!("could not read the browser's URL: {error}"),
        }
    }

    /// The first element matching the CSS selector `css`, waiting up to 5 s for one to appear.
    pub async fn find(&self, css: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(FIND_TIMEOUT)
            .every(POLL_INTERVAL)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(CmdError::WaitTimeout) => {
                panic!(
                    "{}",
                    self.at_url(format!(
                        "no element matches `{css}` after {} s",
                        FIND_TIMEOUT.as_secs()
                    ))
                    .await
                )
            }
            Err(error) => panic!(
                "{}",
                self.at_url(format!("finding `{css}` failed: {error}"))
                    .await
            ),
        }
    }

    /// Types `text` into the field matching `css`, after clearing what it held.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        if let Err(error) = field.clear().await {
            panic!(
                "{}",
                self.at_url(format!("could not clear `{css}`: {error}"))
                    .await
            );
        }
        if let Err(error) = field.send_keys(text).await {
            panic!(
                "{}",
                self.at_url(format!("could not type {text:?} into `{css}`: {error}"))
                    .await
            );
        }
    }

    /// Picks the option whose value is `value` in the `<select>` matching `select`, as a
    /// person would.
    pub async fn choose(&self, select: &str, value: &str) {
        self.click(&format!("{select} option[value=\"{value}\"]"))
            .await;
    }

    /// How many elements match `css` now (no waiting: for checking that something is absent).
    pub async fn count(&self, css: &str) -> usize {
        match self.client.find_all(Locator::Css(css)).await {
            Ok(found) => found.len(),
            Err(error) => panic!(
                "{}",
                self.at_url(format!("finding `{css}` failed: {error}"))
                    .await
            ),
        }
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        if let Err(error) = element.click().await {
            panic!(
                "{}",
                self.at_url(format!("could not click `{css}`: {error}"))
                    .await
            );
        }
    }

    /// The rendered text of the element matching `css` (as a person sees it: hidden parts
    /// left out).
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        match element.text().await {
            Ok(text) => text,
            Err(error) => {
                panic!(
                    "{}",
                    self.at_url(format!("could not read the text of `{css}`: {error}"))
                        .await
                )
            }
        }
    }

    /// The page's HTML as the browser holds it now (after scripts changed it).
    pub async fn page_source(&self) -> String {
        match self.client.source().await {
            Ok(source) => source,
            Err(error) => {
                panic!(
                    "{}",
                    self.at_url(format!("could not read the page's source: {error}"))
                        .await
                )
            }
        }
    }

    /// Waits up to 10 s until the element matching `css` exists and its text contains
    /// `expected`.
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        let started = Instant::now();
        let mut last_seen: Option<String> = None;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if text.contains(expected) {
                    return;
                }
                last_seen = Some(text);
            }
            if started.elapsed() > TEXT_TIMEOUT {
                let seen = match last_seen {
                    Some(text) => format!("its text was {text:?}"),
                    None => "no element matched".to_owned(),
                };
                panic!(
                    "{}",
                    self.at_url(format!(
                        "`{css}` did not show {expected:?} within {} s: {seen}",
                        TEXT_TIMEOUT.as_secs()
                    ))
                    .await
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Saves a PNG picture of the window (1366×900) at `path`.
    pub async fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(error) => panic!(
                "{}",
                self.at_url(format!("could not take a screenshot: {error}"))
                    .await
            ),
        };
        if let Err(error) = std::fs::write(path, png) {
            panic!(
                "could not write the screenshot to {}: {error}",
                path.display()
            );
        }
    }

    /// Runs `script` in the page as the body of a function called with `args` (read them as
    /// `arguments[0]`, …) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        match self.client.execute(script, args).await {
            Ok(value) => value,
            Err(error) => panic!(
                "{}",
                self.at_url(format!("the script failed: {error}")).await
            ),
        }
    }

    /// The serious and critical accessibility violations axe-core finds in the page, each
    /// as axe reports it (`id`, `impact`, `help`, `helpUrl`, `nodes` with their `target`
    /// selectors). `None` when axe-core is not installed and `LETHE_REQUIRE_BROWSER` is not
    /// `1` (a message says the check is skipped), so a test never mistakes a check that did
    /// not run for a page without violations.
    ///
    /// Minor and moderate findings (best practices such as "all content in landmarks") are
    /// left out: a page test fails for what keeps people from using the page.
    pub async fn accessibility_violations(&self) -> Option<Vec<Value>> {
        let axe = axe_core_source()?;
        // A page keeps axe once loaded; loading it again would replace its state mid-run.
        let loaded = self
            .execute("return typeof window.axe === 'object';", vec![])
            .await;
        if loaded != Value::Bool(true) {
            self.execute(&axe, vec![]).await;
        }
        let script = "const done = arguments[arguments.length - 1];
            window.axe
                .run(document, { resultTypes: ['violations'] })
                .then((results) => done({ violations: results.violations }))
                .catch((error) => done({ error: String(error) }));";
        let outcome = match self.client.execute_async(script, vec![]).await {
            Ok(outcome) => outcome,
            Err(error) => panic!(
                "{}",
                self.at_url(format!("axe-core could not run: {error}"))
                    .await
            ),
        };
        if let Some(error) = outcome.get("error") {
            panic!("{}", self.at_url(format!("axe-core failed: {error}")).await);
        }
        let Some(Value::Array(violations)) = outcome.get("violations") else {
            panic!(
                "{}",
                self.at_url(format!("axe-core answered without violations: {outcome}"))
                    .await
            )
        };
        Some(
            violations
                .iter()
                .filter(|violation| {
                    matches!(
                        violation.get("impact").and_then(Value::as_str),
                        Some("serious" | "critical")
                    )
                })
                .cloned()
                .collect(),
        )
    }

    /// Panics when axe-core finds a serious or critical accessibility violation in the page,
    /// listing each with what to fix and the elements at fault. `page_name` says which page
    /// in the message ("the contact list"). Skipped, with a message, when axe-core is not
    /// installed and not required.
    pub async fn assert_accessible(&self, page_name: &str) {
        let Some(violations) = self.accessibility_violations().await else {
            return;
        };
        if violations.is_empty() {
            return;
        }
        let mut message = format!(
            "{page_name} has {} serious or critical accessibility violation(s) (axe-core):",
            violations.len()
        );
        for violation in &violations {
            message.push_str(&describe_violation(violation));
        }
        panic!("{}", self.at_url(message).await);
    }
}

/// One violation as lines of a failure message: its rule, impact, help text and link, and
/// the selector of each element at fault.
fn describe_violation(violation: &Value) -> String {
    let field = |name: &str| {
        violation
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    let mut text = format!(
        "\n- {} ({}): {} <{}>",
        field("id"),
        field("impact"),
        field("help"),
        field("helpUrl")
    );
    let nodes = violation
        .get("nodes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for node in nodes {
        let target = node.get("target").map(Value::to_string).unwrap_or_default();
        text.push_str(&format!("\n    at {target}"));
    }
    text
}
