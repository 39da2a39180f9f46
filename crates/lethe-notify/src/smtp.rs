//! E-mail over SMTP: the settings of the server Lethe hands its mail to, and a [`Mailer`]
//! that sends one plain-text (UTF-8) message at a time over a connection of its own and says
//! how it went.
//!
//! What the SMTP server answers decides the kind of failure (RFC 5321 §4.2.1): a 4xx reply is
//! "not now" and worth another try; a 5xx reply to the message is final. A 5xx about
//! authentication (x3x: 530, 534, 535, 538) is counted as transient, since it says the
//! settings are wrong, not the message, and the message can go once an admin fixes them.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::response::{Category, Severity};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::{SendError, causes, describe_duration, has_io_error, innermost};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text, for a relay on the same machine or network.
    None,
    /// Plain text upgraded with STARTTLS before anything else is sent; a server that does
    /// not offer STARTTLS is not used (usually port 587).
    StartTls,
    /// TLS from the first byte ("implicit TLS", usually port 465).
    Tls,
}

impl SmtpTls {
    /// The port servers usually listen on for this mode: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

impl std::fmt::Display for SmtpTls {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            SmtpTls::None => "none",
            SmtpTls::StartTls => "starttls",
            SmtpTls::Tls => "tls",
        })
    }
}

/// A TLS mode that is not one of `none`, `starttls`, `tls`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an SMTP TLS mode: use none, starttls or tls")]
pub struct UnknownSmtpTls(pub String);

impl std::str::FromStr for SmtpTls {
    type Err = UnknownSmtpTls;

    fn from_str(text: &str) -> Result<SmtpTls, UnknownSmtpTls> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::StartTls),
            "tls" => Ok(SmtpTls::Tls),
            _ => Err(UnknownSmtpTls(text.to_owned())),
        }
    }
}

/// The SMTP server Lethe hands its e-mail to.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Both or neither; sent only over TLS, except to a server on this machine.
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, as `Lethe <lethe@example.org>` or `lethe@example.org`.
    pub from: String,
    /// How long one message may take, from connecting to the server's last answer.
    pub timeout: Duration,
}

/// Leaves the password out, so that settings can be logged.
impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Sends e-mail through one SMTP server, a new connection per message.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port`, for messages.
    server: String,
    tls: SmtpTls,
    timeout: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Mailer")
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `settings`, which are checked here: a sender address that cannot be read,
    /// no host, port 0, no timeout, half a login, or a password that would travel
    /// unencrypted to another machine is refused with a [`SendError::Permanent`] saying so.
    /// Nothing is sent and no connection is opened yet.
    pub fn new(settings: &SmtpSettings) -> Result<Mailer, SendError> {
        let problem = |text: String| Err(SendError::Permanent(text));
        let host = settings.host.trim();
        if host.is_empty() || host.contains(char::is_whitespace) {
            return problem(format!(
                "the SMTP host `{}` cannot be used: give a host name or an IP address",
                settings.host
            ));
        }
        let server = server_name(host, settings.port);
        if settings.port == 0 {
            return problem(format!(
                "the SMTP port cannot be 0: give the server's port ({} is usual for TLS mode {})",
                settings.tls.default_port(),
                settings.tls
            ));
        }
        if settings.timeout.is_zero() {
            return problem("the SMTP timeout must be longer than zero".to_owned());
        }
        let from = settings.from.trim().parse::<Mailbox>().map_err(|error| {
            SendError::Permanent(format!(
                "the sender address `{}` cannot be used ({error}): write it as `Lethe <lethe@example.org>` or `lethe@example.org`",
                settings.from
            ))
        })?;
        let credentials = match (&settings.username, &settings.password) {
            (Some(username), Some(password)) => {
                Some(Credentials::new(username.clone(), password.clone()))
            }
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return problem(
                    "the SMTP settings have a user name without a password or a password without a user name: give both or neither"
                        .to_owned(),
                );
            }
        };
        if credentials.is_some() && settings.tls == SmtpTls::None && !is_this_machine(host) {
            return problem(format!(
                "the SMTP password would travel unencrypted to {server}: set the TLS mode to starttls or tls"
            ));
        }
        let tls_parameters = || {
            TlsParameters::new(host.to_owned()).map_err(|error| {
                SendError::Permanent(format!(
                    "TLS to the SMTP server at {server} cannot be set up: {}",
                    causes(&error)
                ))
            })
        };
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            server,
            tls: settings.tls,
            timeout: settings.timeout,
        })
    }

    /// Sends one plain-text e-mail to `to` (`name@example.org` or `Name <name@example.org>`)
    /// with a `Date` and a new `Message-ID`. The subject is kept to one line: line breaks and
    /// other control characters in it become spaces.
    pub async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), SendError> {
        self.send_with_id(None, to, subject, text).await
    }

    /// As [`Mailer::send`], with the `Message-ID` `<{message}@{the sender's domain}>`: every
    /// try of one message carries the same one, so that a receiver that got an earlier try
    /// (whose answer was lost) can tell the repeat. `message` is made of letters, digits,
    /// `.` and `-`.
    pub async fn send_identified(
        &self,
        message: &str,
        to: &str,
        subject: &str,
        text: &str,
    ) -> Result<(), SendError> {
        let message: String = message
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            .collect();
        let id = format!("<{message}@{}>", self.from.email.domain());
        self.send_with_id(Some(id), to, subject, text).await
    }

    async fn send_with_id(
        &self,
        message_id: Option<String>,
        to: &str,
        subject: &str,
        text: &str,
    ) -> Result<(), SendError> {
        let recipient = to.trim().parse::<Mailbox>().map_err(|error| {
            SendError::Permanent(format!("`{to}` is not an e-mail address: {error}"))
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient)
            .subject(one_line(subject))
            .date_now()
            .message_id(message_id)
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_owned())
            .map_err(|error| {
                SendError::Permanent(format!("the e-mail cannot be written: {error}"))
            })?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(error)) => Err(self.explain(&error)),
            Err(_elapsed) => Err(self.too_slow()),
        }
    }

    fn too_slow(&self) -> SendError {
        SendError::Transient(format!(
            "the SMTP server at {} did not answer within {}",
            self.server,
            describe_duration(self.timeout)
        ))
    }

    /// What went wrong, for an admin, and whether it is worth another try.
    fn explain(&self, error: &lettre::transport::smtp::Error) -> SendError {
        let server = &self.server;
        if let Some(code) = error.status() {
            // lettre keeps the server's text as the error's cause.
            let said = std::error::Error::source(error)
                .map(|text| format!("{code} {text}"))
                .unwrap_or_else(|| code.to_string());
            return match (code.severity, code.category) {
                (Severity::TransientNegativeCompletion, _) => SendError::Transient(format!(
                    "the SMTP server at {server} turned the e-mail away for now: {said}"
                )),
                (_, Category::Unspecified3) => SendError::Transient(format!(
                    "the SMTP server at {server} does not let Lethe send: {said} (check the SMTP user name, password and TLS mode)"
                )),
                _ => SendError::Permanent(format!(
                    "the SMTP server at {server} refused the e-mail: {said}"
                )),
            };
        }
        if error.is_timeout() {
            return self.too_slow();
        }
        if has_io_error(error, std::io::ErrorKind::ConnectionRefused) {
            return SendError::Transient(format!(
                "the SMTP server at {server} refused the connection"
            ));
        }
        // The server's own words, without the layers of "Connection error: …" around them.
        let detail = innermost(error);
        if error.is_tls()
            || (self.tls != SmtpTls::None && has_io_error(error, std::io::ErrorKind::InvalidData))
        {
            let hint = if self.tls == SmtpTls::Tls {
                "; if the server expects STARTTLS on this port, set the TLS mode to starttls"
            } else {
                ""
            };
            return SendError::Transient(format!(
                "TLS with the SMTP server at {server} failed: {detail}{hint}"
            ));
        }
        if error.is_client() {
            // The server lacks something the settings need (STARTTLS, a login mechanism).
            return SendError::Transient(format!(
                "the SMTP server at {server} cannot be used with these settings: {detail}"
            ));
        }
        SendError::Transient(format!(
            "the e-mail could not be handed to the SMTP server at {server}: {detail}"
        ))
    }
}

/// `host:port`, with an IPv6 address in brackets.
fn server_name(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Whether `host` is this machine, where a password may travel without TLS.
fn is_this_machine(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// `text` on one line: every control character (line breaks included) becomes a space, so
/// that no subject can add a header.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.org".to_owned(),
            port: 587,
            tls: SmtpTls::StartTls,
            username: Some("lethe".to_owned()),
            password: Some("hunter2".to_owned()),
            from: "Lethe <lethe@example.org>".to_owned(),
            timeout: Duration::from_secs(10),
        }
    }

    fn refusal(settings: &SmtpSettings) -> String {
        match Mailer::new(settings) {
            Err(SendError::Permanent(text)) => text,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn tls_modes_read_from_their_names_and_nothing_else() {
        assert_eq!("none".parse(), Ok(SmtpTls::None));
        assert_eq!("StartTLS".parse(), Ok(SmtpTls::StartTls));
        assert_eq!(" tls ".parse(), Ok(SmtpTls::Tls));
        let error = "ssl"
            .parse::<SmtpTls>()
            .err()
            .map(|error| error.to_string());
        assert_eq!(
            error.as_deref(),
            Some("`ssl` is not an SMTP TLS mode: use none, starttls or tls")
        );
        for mode in [SmtpTls::None, SmtpTls::StartTls, SmtpTls::Tls] {
            assert_eq!(mode.to_string().parse(), Ok(mode));
        }
    }

    #[test]
    fn good_settings_make_a_mailer_in_every_tls_mode() {
        for tls in [SmtpTls::StartTls, SmtpTls::Tls] {
            let mailer = Mailer::new(&SmtpSettings { tls, ..settings() });
            assert!(mailer.is_ok(), "{tls}: {mailer:?}");
        }
        let local = SmtpSettings {
            host: "127.0.0.1".to_owned(),
            tls: SmtpTls::None,
            ..settings()
        };
        assert!(Mailer::new(&local).is_ok());
    }

    #[test]
    fn a_sender_that_is_no_address_is_refused_with_an_example() {
        let text = refusal(&SmtpSettings {
            from: "Lethe".to_owned(),
            ..settings()
        });
        assert!(
            text.contains("the sender address `Lethe` cannot be used"),
            "{text}"
        );
        assert!(text.contains("Lethe <lethe@example.org>"), "{text}");
    }

    #[test]
    fn unusable_settings_are_refused_and_say_which() {
        let cases = [
            (
                SmtpSettings {
                    host: " ".to_owned(),
                    ..settings()
                },
                "the SMTP host",
            ),
            (
                SmtpSettings {
                    port: 0,
                    ..settings()
                },
                "587 is usual",
            ),
            (
                SmtpSettings {
                    timeout: Duration::ZERO,
                    ..settings()
                },
                "timeout",
            ),
            (
                SmtpSettings {
                    password: None,
                    ..settings()
                },
                "give both or neither",
            ),
            (
                SmtpSettings {
                    tls: SmtpTls::None,
                    ..settings()
                },
                "would travel unencrypted to smtp.example.org:587",
            ),
        ];
        for (settings, expected) in cases {
            let text = refusal(&settings);
            assert!(text.contains(expected), "{text}");
        }
    }

    #[test]
    fn the_password_stays_out_of_debug_output() {
        let text = format!("{:?}", settings());
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("(hidden)"), "{text}");
    }

    #[test]
    fn subjects_stay_on_one_line() {
        assert_eq!(one_line("Hi\r\nBcc: x@y.z\tthere"), "Hi  Bcc: x@y.z there");
        assert_eq!(one_line("Réunion ✓"), "Réunion ✓");
    }

    #[test]
    fn ipv6_servers_are_named_in_brackets() {
        assert_eq!(server_name("::1", 25), "[::1]:25");
        assert_eq!(server_name("mail.example.org", 25), "mail.example.org:25");
        assert!(is_this_machine("::1"));
        assert!(is_this_machine("LOCALHOST"));
        assert!(!is_this_machine("10.0.0.1"));
    }
}
