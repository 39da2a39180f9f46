//! Lethe's outgoing notifications: one e-mail over SMTP (`Mailer`) or one webhook POST
//! (`WebhookSender`) at a time, each answering precisely how it went.
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

pub use signature::{SignatureError, signature_header, verify_signature};

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
}

impl SendError {
    /// Whether trying again later may deliver the message.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }

    /// What happened, for an admin.
    pub fn message(&self) -> &str {
        match self {
            SendError::Transient(message) | SendError::Permanent(message) => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_errors_are_worth_another_try() {
        assert!(SendError::Transient("down".to_owned()).is_transient());
        assert!(!SendError::Permanent("gone".to_owned()).is_transient());
        assert_eq!(SendError::Permanent("gone".to_owned()).to_string(), "gone");
    }
}
