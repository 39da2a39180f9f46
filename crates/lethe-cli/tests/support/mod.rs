//! Drives the real `lethe` binary: one-shot commands, and a server on a random port.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

#[allow(unused_imports)] // not every test file runs on both backends
pub use lethe_testkit::{TestDatabase, both_backends};
use serde_json::Value;

pub mod receiver;

/// The result of one `lethe` run.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout of a `--json` run, which must be exactly one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| {
            panic!(
                "stdout is not one JSON document ({error}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// The stderr of a failed `--json` run: one JSON object with an `error` field.
    pub fn error_json(&self) -> Value {
        let value: Value = serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|error| panic!("stderr is not JSON ({error}): {}", self.stderr));
        assert!(value["error"].is_string(), "no error field: {value}");
        value
    }

    /// The JSON error of a failed `--json` run after a fault the process also logged (for
    /// instance that it could not record a job's failure on a full disk): log lines may
    /// come first, the error is the last line.
    pub fn error_json_after_logs(&self) -> Value {
        let last = self.stderr.trim().lines().last().unwrap_or_default();
        let value: Value = serde_json::from_str(last)
            .unwrap_or_else(|error| panic!("the last line is not JSON ({error}): {}", self.stderr));
        assert!(value["error"].is_string(), "no error field: {value}");
        value
    }
}

/// The `lethe` binary against the test's database, with the test's own attachment folder
/// (`files` in its scratch folder, created; a test may point `LETHE_FILES_DIR` elsewhere).
pub fn lethe_command(database: &TestDatabase) -> Command {
    let files = database.scratch_dir().join("files");
    std::fs::create_dir_all(&files).expect("create the test's attachment folder");
    let mut command = Command::new(env!("CARGO_BIN_EXE_lethe"));
    command
        .env("LETHE_DATABASE_URL", &database.url)
        .env("LETHE_FILES_DIR", &files)
        .env_remove("LETHE_SCHEMA")
        .env_remove("LETHE_NOW")
        .env_remove("LETHE_PURGE_GRACE")
        .env_remove("LETHE_PURGE_MIN_GRACE")
        .env_remove("LETHE_RETENTION");
    command
}

/// Waits up to 60 s until `sql` counts `expected`; fails saying `what` did not come about.
pub async fn wait_for_count(database: &TestDatabase, what: &str, sql: &str, expected: i64) {
    let started = std::time::Instant::now();
    loop {
        let found = database.scalar(sql).await;
        if found == expected {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{what}: {sql} counts {found}, not {expected}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Adds retention policy `name` from the command line, as the operator: it acts on the
/// contacts `filter` finds, daily at 03:00.
pub fn add_policy(database: &TestDatabase, name: &str, filter: &str, action: &str) {
    let run = lethe(
        database,
        &[
            "policy",
            "add",
            name,
            "--entity",
            "contact",
            "--filter",
            filter,
            "--action",
            action,
            "--schedule",
            "0 3 * * *",
            "--legal-basis",
            "kept while the test runs",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
}

/// Runs `lethe ARGS` against the database and waits for it.
pub fn lethe(database: &TestDatabase, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = lethe_command(database)
        .args(args)
        .output()
        .expect("run the lethe binary");
    Run {
        status: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Builds the demo CRM with `contacts` contacts and its attachment files (in the database's
/// scratch folder, which it returns), without serving it.
pub fn demo(database: &TestDatabase, contacts: u64) -> std::path::PathBuf {
    let files = database.scratch_dir().join("files");
    demo_into(database, contacts, &files);
    files
}

/// `lethe demo` with its attachment files written to `files`.
pub fn demo_into(database: &TestDatabase, contacts: u64, files: &std::path::Path) {
    let run = lethe(
        database,
        &[
            "demo",
            "--contacts",
            &contacts.to_string(),
            "--no-serve",
            "--files",
            files.to_str().expect("a UTF-8 path"),
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
}

/// Runs `lethe ARGS` with `input` on stdin.
pub fn lethe_with_input(database: &TestDatabase, args: &[&str], input: &str) -> Run {
    let mut child = lethe_command(database)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the lethe binary");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait for lethe");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Creates a user with a password to sign in with; returns its id and first API token.
pub fn add_user_with_password(
    database: &TestDatabase,
    name: &str,
    role: &str,
    password: &str,
) -> (i64, String) {
    let run = lethe_with_input(
        database,
        &[
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--json",
        ],
        &format!("{password}\n"),
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let json = run.json();
    (
        json["user"]["id"].as_i64().unwrap(),
        json["token"].as_str().unwrap().to_owned(),
    )
}

/// Creates a user and returns its token.
pub fn add_user(database: &TestDatabase, name: &str, role: &str) -> (i64, String) {
    let run = lethe(database, &["user", "add", name, "--role", role, "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let json = run.json();
    (
        json["user"]["id"].as_i64().unwrap(),
        json["token"].as_str().unwrap().to_owned(),
    )
}

/// A running `lethe serve` on a random port, killed when dropped.
pub struct TestServer {
    child: Child,
    pub url: String,
    pub client: reqwest::Client,
}

impl TestServer {
    pub fn start(database: &TestDatabase) -> TestServer {
        TestServer::start_with_env(database, &[])
    }

    /// A server with extra environment (e.g. a short purge grace period).
    pub fn start_with_env(database: &TestDatabase, env: &[(&str, &str)]) -> TestServer {
        let mut child = lethe_command(database)
            .envs(env.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start lethe serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut first_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut first_line)
            .expect("read the URL line");
        let announced: Value = serde_json::from_str(&first_line)
            .unwrap_or_else(|_| panic!("serve did not announce its URL: {first_line:?}"));
        TestServer {
            child,
            url: announced["url"].as_str().expect("url").to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and reaps it.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(self.endpoint(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        respond(request).await
    }

    pub async fn post(&self, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
        let mut request = self.client.post(self.endpoint(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        respond(request).await
    }

    pub async fn delete(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.delete(self.endpoint(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        respond(request).await
    }

    pub async fn patch(&self, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
        let mut request = self.client.patch(self.endpoint(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        respond(request).await
    }

    pub async fn put(&self, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
        let mut request = self.client.put(self.endpoint(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        respond(request).await
    }
}

impl TestServer {
    /// A POST that must answer `202 Accepted` with a job and its `Location`.
    pub async fn accepted(&self, token: &str, path: &str, body: &Value) -> Value {
        let response = self
            .client
            .post(self.endpoint(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|value| value.to_str().unwrap().to_owned());
        let job: Value = response.json().await.unwrap();
        assert_eq!(status, 202, "{path} {body}: {job}");
        assert_eq!(
            location,
            Some(format!("/api/v1/jobs/{}", job["id"])),
            "{path}: {job}"
        );
        job
    }

    /// Polls `GET /api/v1/jobs/{id}` until the job is done; panics if it fails or is
    /// cancelled, or is not done after [`JOB_DEADLINE`].
    pub async fn wait_for_job(&self, token: &str, id: i64) -> Value {
        let started = std::time::Instant::now();
        loop {
            let (status, job) = self.get(Some(token), &format!("/api/v1/jobs/{id}")).await;
            assert_eq!(status, 200, "{job}");
            match job["state"].as_str().unwrap() {
                "done" => return job,
                "failed" | "cancelled" => panic!("job {id} did not finish: {job}"),
                "queued" | "running" | "pending" => {}
                other => panic!("job {id} has an unknown state {other}: {job}"),
            }
            assert!(
                started.elapsed() < JOB_DEADLINE,
                "job {id} is not done after {JOB_DEADLINE:?}: {job}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Creates a record and returns its id.
    pub async fn create(&self, token: &str, entity: &str, body: Value) -> i64 {
        let (status, record) = self
            .post(Some(token), &format!("/api/v1/records/{entity}"), &body)
            .await;
        assert_eq!(status, 201, "{entity}: {record}");
        record["id"].as_i64().unwrap()
    }

    /// Freezes a pick into a snapshot and returns its id.
    pub async fn snapshot(&self, token: &str, pick: Value) -> i64 {
        let (status, body) = self.post(Some(token), "/api/v1/snapshots", &pick).await;
        assert_eq!(status, 201, "{body}");
        body["snapshot"]["id"].as_i64().unwrap()
    }

    /// How many jobs there are.
    pub async fn job_count(&self, admin: &str) -> usize {
        let (status, body) = self.get(Some(admin), "/api/v1/jobs?limit=1000").await;
        assert_eq!(status, 200, "{body}");
        body["jobs"].as_array().unwrap().len()
    }
}

/// How long a job may take in the HTTP tests before they fail.
pub const JOB_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// The error message of a 4xx answer; panics unless it is the JSON error shape.
pub fn error_text(status: u16, body: &Value) -> &str {
    assert!((400..500).contains(&status), "{status}: {body}");
    assert!(body["code"].is_string(), "no error code: {body}");
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {body}"))
}

pub async fn respond(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many times each kill test kills a running job, per backend (`LETHE_CRASH_KILLS`,
/// default 5: about 50 kills over all job kinds and both backends in CI; 500 on demand).
pub fn crash_kills() -> u64 {
    std::env::var("LETHE_CRASH_KILLS")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(5)
}

/// Opens `path` in the browser, which leads to the sign-in page, and signs in as `name`:
/// the browser is then on `path`.
pub async fn sign_in(
    browser: &lethe_testkit::browser::Browser,
    server: &TestServer,
    path: &str,
    name: &str,
    password: &str,
) {
    browser.goto(&server.endpoint(path)).await;
    browser.fill("#name", name).await;
    browser.fill("#password", password).await;
    browser.click("button[type=submit]").await;
}

/// A client that keeps cookies by hand and never follows redirects, to see each answer.
pub struct PageClient {
    http: reqwest::Client,
    base: String,
    pub cookies: std::collections::BTreeMap<String, String>,
}

impl PageClient {
    pub fn new(server: &TestServer) -> PageClient {
        PageClient {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.url.clone(),
            cookies: std::collections::BTreeMap::new(),
        }
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(
        &mut self,
        path: &str,
    ) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    }

    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    }

    /// The value of the first `form_token` field on a page.
    pub fn form_token(page: &str) -> String {
        let at = page
            .find("name=\"form_token\" value=\"")
            .unwrap_or_else(|| panic!("no form token on the page: {page}"));
        let rest = &page[at + "name=\"form_token\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    pub async fn sign_in(&mut self, name: &str, password: &str) -> (reqwest::StatusCode, String) {
        let (_, _, page) = self.get("/sign-in").await;
        let token = PageClient::form_token(&page);
        let (status, headers, body) = self
            .post(
                "/sign-in",
                &[
                    ("form_token", &token),
                    ("name", name),
                    ("password", password),
                ],
            )
            .await;
        let location = headers
            .get("location")
            .map(|value| value.to_str().unwrap().to_owned());
        (status, location.unwrap_or(body))
    }
}

/// `(METHOD, route)` of every page, as `lethe-web`'s `routes()` declares them (read from its
/// source, so a test that walks them sees a new route at once).
pub fn page_routes() -> std::collections::BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lethe-web/src/lib.rs"
    ))
    .expect("read lethe-web's router");
    let start = source
        .find("pub fn routes(")
        .expect("routes() is in lib.rs");
    let router = &source[start..];
    let mut found = std::collections::BTreeSet::new();
    for piece in router.split(".route(").skip(1) {
        let Some(rest) = piece.trim_start().strip_prefix('"') else {
            continue;
        };
        let end = rest.find('"').unwrap();
        let path = &rest[..end];
        let handlers = &rest[end..rest.find(".route(").unwrap_or(rest.len())];
        for method in ["get", "post", "put", "patch", "delete"] {
            let call = format!("{method}(");
            let called = handlers.match_indices(&call).any(|(at, _)| {
                !handlers[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
            if called {
                found.insert((method.to_uppercase(), path.to_owned()));
            }
        }
    }
    found
}

/// The records an export that reaches members `m` (an SQL list of ids) must hold besides
/// them, per entity, written out by hand for the default schema: every relation to a
/// contact, and every relation to the records those reach. `state` is the condition each
/// record on the way must meet (`1 = 1` for any state).
pub fn related_sql(m: &str, state: &str) -> Vec<(&'static str, String)> {
    let of = |table: &str, condition: &str| {
        format!("SELECT id FROM {table} WHERE ({condition}) AND {state}")
    };
    let tickets = of("ticket", &format!("contact_id IN ({m})"));
    let projects = of("project", &format!("contact_id IN ({m})"));
    let deals = of("deal", &format!("contact_id IN ({m})"));
    let invoices = of("invoice", &format!("contact_id IN ({m})"));
    let direct = |table: &'static str| (table, of(table, &format!("contact_id IN ({m})")));
    vec![
        direct("consent"),
        direct("deal"),
        direct("project"),
        direct("activity"),
        direct("note"),
        direct("message"),
        direct("ticket"),
        (
            "ticket_comment",
            of(
                "ticket_comment",
                &format!("contact_id IN ({m}) OR ticket_id IN ({tickets})"),
            ),
        ),
        (
            "survey_rating",
            of(
                "survey_rating",
                &format!("contact_id IN ({m}) OR ticket_id IN ({tickets})"),
            ),
        ),
        direct("invoice"),
        (
            "time_entry",
            of(
                "time_entry",
                &format!("contact_id IN ({m}) OR project_id IN ({projects})"),
            ),
        ),
        direct("campaign_membership"),
        (
            "attachment",
            of(
                "attachment",
                &format!(
                    "(owner_entity = 'contact' AND owner_id IN ({m})) \
                     OR (owner_entity = 'deal' AND owner_id IN ({deals})) \
                     OR (owner_entity = 'project' AND owner_id IN ({projects})) \
                     OR (owner_entity = 'ticket' AND owner_id IN ({tickets})) \
                     OR (owner_entity = 'invoice' AND owner_id IN ({invoices}))"
                ),
            ),
        ),
    ]
}
