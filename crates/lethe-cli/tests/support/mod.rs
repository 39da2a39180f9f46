//! Drives the real `lethe` binary: one-shot commands, and a server on a random port.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

pub use lethe_testkit::{TestDatabase, both_backends};
use serde_json::Value;

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
}

pub fn lethe_command(database: &TestDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lethe"));
    command
        .env("LETHE_DATABASE_URL", &database.url)
        .env_remove("LETHE_SCHEMA")
        .env_remove("LETHE_NOW");
    command
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
        let mut child = lethe_command(database)
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

    pub async fn patch(&self, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
        let mut request = self.client.patch(self.endpoint(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        respond(request).await
    }
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
