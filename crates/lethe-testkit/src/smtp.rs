//! A real SMTP server for tests of Lethe's e-mail: aiosmtpd (PyPI) running a small script of
//! ours (`smtp_sink.py`) on a free port of 127.0.0.1, which writes every message it accepts
//! to a folder that [`SmtpSink::messages`] reads back, decoded by Python's `email` package.
//!
//! The Python comes from a virtualenv at `~/.cache/lethe/smtp-venv` (`LETHE_AIOSMTPD_PYTHON`
//! names another interpreter that has aiosmtpd). When there is none, [`SmtpSinkBuilder::start`]
//! says the test is skipped and returns `None` — unless `LETHE_REQUIRE_SMTP=1` (as in CI),
//! where that is a failure. Set it up once with:
//!
//! ```sh
//! python3 -m venv ~/.cache/lethe/smtp-venv
//! ~/.cache/lethe/smtp-venv/bin/pip install 'aiosmtpd==1.4.6'
//! ```
//!
//! The server is stopped when the [`SmtpSink`] is dropped, or by [`SmtpSink::stop`] to see
//! what a sender does when the server is down; it also stops by itself when the test process
//! dies, since it exits when its standard input closes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The script the server runs.
const SCRIPT: &str = include_str!("smtp_sink.py");
/// How long Python may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The command that sets the virtualenv up, for the messages.
const VENV_SETUP: &str = "python3 -m venv ~/.cache/lethe/smtp-venv && \
    ~/.cache/lethe/smtp-venv/bin/pip install 'aiosmtpd==1.4.6'";

fn smtp_required() -> bool {
    std::env::var("LETHE_REQUIRE_SMTP").is_ok_and(|value| value == "1")
}

/// The Python that runs the server: `LETHE_AIOSMTPD_PYTHON`, else the virtualenv's; `None`
/// (with a message saying the test is skipped) when there is none and SMTP is not required.
fn find_python() -> Option<PathBuf> {
    let path = match std::env::var_os("LETHE_AIOSMTPD_PYTHON") {
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".cache/lethe/smtp-venv/bin/python")),
    };
    if let Some(path) = path.as_ref().filter(|path| path.is_file()) {
        return Some(path.clone());
    }
    let place = path.map_or_else(
        || "no HOME to find ~/.cache/lethe/smtp-venv in".to_owned(),
        |path| format!("{} does not exist", path.display()),
    );
    if smtp_required() {
        panic!(
            "an SMTP server is required (LETHE_REQUIRE_SMTP=1) but aiosmtpd's Python is missing: \
             {place} (set LETHE_AIOSMTPD_PYTHON, or `{VENV_SETUP}`)"
        );
    }
    eprintln!(
        "skipping an SMTP test: aiosmtpd's Python is missing: {place} (set LETHE_AIOSMTPD_PYTHON, or `{VENV_SETUP}`)"
    );
    None
}

/// How the server should behave, before it starts.
#[derive(Debug, Default, Clone)]
pub struct SmtpSinkBuilder {
    refuse: Vec<String>,
    defer: Vec<String>,
    login: Option<(String, String)>,
    slow: Option<Duration>,
    port: Option<u16>,
}

impl SmtpSinkBuilder {
    /// Listen on this port (to start again where a stopped sink listened) instead of a free
    /// one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Answer RCPT TO for `address` with `550 5.1.1 … User unknown`.
    pub fn refuse(mut self, address: &str) -> Self {
        self.refuse.push(address.to_owned());
        self
    }

    /// Answer RCPT TO for `address` with `451 4.2.0 … try again later`.
    pub fn defer(mut self, address: &str) -> Self {
        self.defer.push(address.to_owned());
        self
    }

    /// Offer AUTH (also without TLS) and accept only this user name and password; a wrong
    /// login is answered with `535 5.7.8`.
    pub fn login(mut self, user: &str, password: &str) -> Self {
        self.login = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Wait this long before answering a message's data.
    pub fn slow(mut self, delay: Duration) -> Self {
        self.slow = Some(delay);
        self
    }

    /// Starts the server; `None` when aiosmtpd's Python is missing and `LETHE_REQUIRE_SMTP`
    /// is not `1` (a message says the test is skipped).
    pub fn start(self) -> Option<SmtpSink> {
        let python = find_python()?;
        let folder = tempfile::tempdir().expect("a temporary folder for the SMTP sink");
        let script = folder.path().join("smtp_sink.py");
        std::fs::write(&script, SCRIPT).expect("writing the SMTP sink's script");
        let messages = folder.path().join("messages");
        std::fs::create_dir(&messages).expect("a folder for received messages");
        let log_path = folder.path().join("server.log");
        let log = std::fs::File::create(&log_path).expect("a log file for the SMTP sink");

        let mut command = Command::new(&python);
        command
            .arg(&script)
            .arg("--folder")
            .arg(&messages)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);
        for address in &self.refuse {
            command.arg("--refuse").arg(address);
        }
        for address in &self.defer {
            command.arg("--defer").arg(address);
        }
        if let Some((user, password)) = &self.login {
            command.arg("--login").arg(format!("{user}:{password}"));
        }
        if let Some(delay) = self.slow {
            command.arg("--slow").arg(delay.as_secs_f64().to_string());
        }
        if let Some(port) = self.port {
            command.arg("--port").arg(port.to_string());
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", python.display()));
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .expect("the SMTP sink's standard output");

        // The first line says where it listens; read it on a thread so a server that never
        // says it cannot hang the test.
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver.recv_timeout(START_TIMEOUT).unwrap_or_default();
        let port = line
            .trim()
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|port| port.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!(
                "the SMTP sink ({} with aiosmtpd) did not start: it printed {line:?}; its errors:\n{log}\n\
                 (is aiosmtpd installed there? `{VENV_SETUP}`)",
                python.display()
            );
        };
        Some(SmtpSink {
            child: Some(child),
            stdin,
            port,
            messages,
            _folder: folder,
        })
    }
}

/// A running SMTP server that keeps what it receives. Dropping it stops the server.
#[derive(Debug)]
pub struct SmtpSink {
    child: Option<Child>,
    /// Held open: the server exits when it closes.
    stdin: Option<ChildStdin>,
    port: u16,
    messages: PathBuf,
    _folder: tempfile::TempDir,
}

/// A message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope's sender (MAIL FROM).
    pub mail_from: String,
    /// The envelope's accepted recipients (RCPT TO).
    pub rcpt_tos: Vec<String>,
    /// The user name the client logged in with, if it did.
    pub login: Option<String>,
    /// Every header, in order, decoded (RFC 2047 words as text).
    pub headers: Vec<(String, String)>,
    pub subject: String,
    pub from: String,
    pub to: String,
    pub date: Option<String>,
    pub message_id: Option<String>,
    /// `text/plain` and the like.
    pub content_type: String,
    pub charset: Option<String>,
    /// The text part, decoded from its transfer encoding and charset.
    pub text: Option<String>,
    /// The message as it came over the wire.
    pub raw: String,
}

impl ReceivedMail {
    fn from_json(value: &Value) -> ReceivedMail {
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
        let optional = |key: &str| value[key].as_str().map(str::to_owned);
        ReceivedMail {
            mail_from: text("mail_from"),
            rcpt_tos: value["rcpt_tos"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|item| item.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            login: optional("login"),
            headers: value["headers"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|pair| {
                            (
                                pair[0].as_str().unwrap_or_default().to_owned(),
                                pair[1].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            subject: text("subject"),
            from: text("from"),
            to: text("to"),
            date: optional("date"),
            message_id: optional("message_id"),
            content_type: text("content_type"),
            charset: optional("charset"),
            text: optional("text"),
            raw: text("raw"),
        }
    }

    /// The values of every header named `name` (in any case).
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

impl SmtpSink {
    /// A server that accepts every message.
    pub fn start() -> Option<SmtpSink> {
        SmtpSink::builder().start()
    }

    /// A server to be set up before it starts (refused or deferred recipients, a login,
    /// slowness).
    pub fn builder() -> SmtpSinkBuilder {
        SmtpSinkBuilder::default()
    }

    /// The address it listens on.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.messages)
            .expect("the SMTP sink's folder")
            .map(|entry| entry.expect("an entry of the SMTP sink's folder").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(file).expect("a received message");
                let value: Value = serde_json::from_str(&text).expect("a received message's JSON");
                ReceivedMail::from_json(&value)
            })
            .collect()
    }

    /// Stops the server now; connecting to its port is then refused.
    pub fn stop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
