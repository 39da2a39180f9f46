//! Secrets Lethe keeps to use again, sealed before they are stored: a webhook's signing
//! secret must be read back to sign each message, so it cannot be kept as a hash. A copy of
//! the database alone (a backup, a replica, a dump) then does not give them away.
//!
//! A sealed secret is `sealed:v1:` and the base64 of a random 24-byte nonce followed by the
//! XChaCha20-Poly1305 ciphertext of the secret, under a key derived from the history key
//! (which never enters the database), with what the secret is for as associated data: a
//! sealed value copied to another place does not open there.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use rand::RngCore;

use crate::HistoryKey;
use crate::error::StoreError;

/// What every sealed value starts with.
const PREFIX: &str = "sealed:v1:";

/// The derived key's purpose.
const PURPOSE: &str = "sealing stored secrets";

/// `secret` sealed for storing; `place` says what it is (e.g. `lethe_webhook.secret`).
pub fn seal(key: &HistoryKey, place: &str, secret: &str) -> Result<String, StoreError> {
    let cipher = XChaCha20Poly1305::new(&key.derive(PURPOSE).into());
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: secret.as_bytes(),
                aad: place.as_bytes(),
            },
        )
        .map_err(|_| StoreError::Internal(format!("a secret for {place} could not be sealed")))?;
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&sealed);
    Ok(format!("{PREFIX}{}", STANDARD.encode(bytes)))
}

/// Whether a stored value is sealed (rather than a secret stored before Lethe sealed them).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The secret a stored value holds. A value stored before secrets were sealed is the secret
/// itself. One that does not open was sealed under another history key, or changed.
pub fn open(key: &HistoryKey, place: &str, stored: &str) -> Result<String, StoreError> {
    let Some(encoded) = stored.strip_prefix(PREFIX) else {
        return Ok(stored.to_owned());
    };
    let cannot = || {
        StoreError::Internal(format!(
            "a sealed secret in {place} does not open with this instance's history key: it was sealed under another key, or changed; add the webhook again"
        ))
    };
    let bytes = STANDARD.decode(encoded).map_err(|_| cannot())?;
    if bytes.len() < 24 {
        return Err(cannot());
    }
    let (nonce, sealed) = bytes.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| cannot())?;
    let cipher = XChaCha20Poly1305::new(&key.derive(PURPOSE).into());
    let secret = cipher
        .decrypt(
            &nonce.into(),
            Payload {
                msg: sealed,
                aad: place.as_bytes(),
            },
        )
        .map_err(|_| cannot())?;
    String::from_utf8(secret).map_err(|_| cannot())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> HistoryKey {
        HistoryKey::new(text.as_bytes()).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_place_only() {
        let key = key("0123456789abcdef0123456789abcdef");
        let sealed = seal(&key, "lethe_webhook.secret", "whsec_abc").unwrap_or_default();
        assert!(is_sealed(&sealed), "{sealed}");
        assert!(!sealed.contains("whsec_abc"), "{sealed}");
        // A random nonce: the same secret seals differently each time.
        let again = seal(&key, "lethe_webhook.secret", "whsec_abc").unwrap_or_default();
        assert_ne!(sealed, again);
        assert_eq!(
            open(&key, "lethe_webhook.secret", &sealed).ok().as_deref(),
            Some("whsec_abc")
        );
        assert!(open(&key, "lethe_user.password", &sealed).is_err());
        let other = self::key("fedcba9876543210fedcba9876543210");
        let refused = open(&other, "lethe_webhook.secret", &sealed)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(refused.contains("another key"), "{refused}");
        // A changed byte, a cut value: refused, never a wrong secret.
        let mut changed = sealed.clone().into_bytes();
        let last = changed.len() - 3;
        changed[last] = if changed[last] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).unwrap_or_default();
        assert!(open(&key, "lethe_webhook.secret", &changed).is_err());
        assert!(open(&key, "lethe_webhook.secret", "sealed:v1:AAAA").is_err());
        // A secret stored before sealing reads as itself.
        assert_eq!(
            open(&key, "lethe_webhook.secret", "whsec_old")
                .ok()
                .as_deref(),
            Some("whsec_old")
        );
        assert!(!is_sealed("whsec_old"));
    }
}
