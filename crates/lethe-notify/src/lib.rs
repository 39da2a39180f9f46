//! Lethe's outgoing notifications: one e-mail over SMTP ([`Mailer`]) or one webhook POST
//! ([`WebhookSender`]) at a time, each answering precisely how it went.
//!
//! A send either succeeds or fails with a [`SendError`] that says whether trying again later
//! can help ([`SendError::Transient`]: the server was down, slow, busy, or turned the message
//! away for now) or cannot ([`SendError::Permanent`]: the address or URL is wrong, or the
//! receiver refused this message for good). Its text is written for an admin: it names the
//! server (`host:port`) or the webhook's URL and what happened.
//!
//! Webhook bodies are signed with HMAC-SHA-256 under a secret the receiver shares
//! ([`signature_header`]); [`verify_signature`] is what a receiver does with the header.
//!
//! **Architecture invariant:** this crate knows nothing of the database or of the outbox that
//! holds the messages to send; the delivery loop reads a message, calls a sender, and records
//! the answer. It never reads the environment: every setting is passed in.

mod signature;
mod smtp;
mod webhook;

pub use signature::{SignatureError, signature_header, verify_signature};
pub use smtp::{Mailer, SmtpSettings, SmtpTls, UnknownSmtpTls};
pub use webhook::WebhookSender;

use std::time::Duration;

/// Why a notification was not delivered. The text says, for an admin, which server or URL
/// and what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Trying again later may work: the connection was refused or timed out, the receiver
    /// answered 408, 429 or 5xx, the SMTP server answered 4xx, or the SMTP settings do not
    /// work yet (a refused password, TLS that fails) and an admin must fix them.
    #[error("{0}")]
    Transient(String),
    /// Trying again cannot work for this message: the address or URL is invalid, the SMTP
    /// server refused it with 5xx, the webhook answered 4xx (other than 408 and 429) or
    /// redirected.
    #[error("{0}")]
    Permanent(String),
    /// Trying again later may work, and the receiver said when: it answered 429 or 503 (or
    /// another "not now") with a `Retry-After` of `wait`.
    #[error("{message}")]
    Busy { message: String, wait: Duration },
}

impl SendError {
    /// Whether trying again later may deliver the message.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_) | SendError::Busy { .. })
    }

    /// What happened, for an admin.
    pub fn message(&self) -> &str {
        match self {
            SendError::Transient(message)
            | SendError::Permanent(message)
            | SendError::Busy { message, .. } => message,
        }
    }

    /// How long the receiver asked to be left alone, when it did.
    pub fn asked_wait(&self) -> Option<Duration> {
        match self {
            SendError::Busy { wait, .. } => Some(*wait),
            _ => None,
        }
    }
}

/// The texts of `error` and of every error under it, joined with ": ", leaving out a cause
/// whose text the error's own text already includes (many libraries repeat it).
pub(crate) fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The text of the error deepest under `error`: the cause itself, without the layers of
/// "Connection error: …" around it (nor, from reqwest, the full URL with its query).
pub(crate) fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(cause) = deepest.source() {
        deepest = cause;
    }
    deepest.to_string()
}

/// Whether an I/O error of `kind` is somewhere under `error`, also one wrapped in another
/// I/O error (whose `source` skips it).
pub(crate) fn has_io_error(
    error: &(dyn std::error::Error + 'static),
    kind: std::io::ErrorKind,
) -> bool {
    fn is_or_wraps(io: &std::io::Error, kind: std::io::ErrorKind) -> bool {
        io.kind() == kind
            || io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<std::io::Error>())
                .is_some_and(|inner| is_or_wraps(inner, kind))
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && is_or_wraps(io, kind)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A duration as an admin reads it in a message: "10 s", "1.5 s", "250 ms".
pub(crate) fn describe_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis} ms")
    } else if millis.is_multiple_of(1000) {
        format!("{} s", millis / 1000)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds_or_milliseconds() {
        assert_eq!(describe_duration(Duration::from_secs(10)), "10 s");
        assert_eq!(describe_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(describe_duration(Duration::from_millis(250)), "250 ms");
    }

    #[test]
    fn only_transient_errors_are_worth_another_try() {
        assert!(SendError::Transient("down".to_owned()).is_transient());
        assert!(!SendError::Permanent("gone".to_owned()).is_transient());
        assert_eq!(SendError::Permanent("gone".to_owned()).to_string(), "gone");
    }
}
