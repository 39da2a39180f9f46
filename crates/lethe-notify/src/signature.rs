//! The signature of a webhook delivery, and how a receiver checks it.
//!
//! The header is `Lethe-Signature: t=<unix seconds>,v1=<hex>` where the hex is the
//! HMAC-SHA-256, under the secret the receiver shares with Lethe, of the bytes `<t>.<body>`.
//! Signing the time with the body lets a receiver refuse an old delivery sent again (a
//! replay) without keeping every delivery it has seen. A receiver may find several `v1=`
//! values (reserved for rotating a secret: one per secret in force) and accepts the delivery
//! when any matches; keys other than `t` and `v1` are ignored, so a later scheme can be added
//! beside `v1` without breaking receivers.

use lethe_domain::mac::{hmac_sha256, hmac_sha256_verify};

/// The value of the `Lethe-Signature` header for `body` sent at `timestamp` (Unix seconds).
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mac = hmac_sha256(secret, &signed_bytes(timestamp, body));
    format!("t={timestamp},v1={}", hex(&mac))
}

/// Why a receiver refuses a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Lethe-Signature header cannot be read: {0}")]
    Malformed(String),
    #[error(
        "the Lethe-Signature does not match the body: the body was changed, or it was signed with another secret"
    )]
    Mismatch,
    #[error(
        "the delivery was signed at {timestamp} (Unix time), {distance} s away from now ({now}); at most {tolerance} s are accepted, so it may be an old delivery sent again"
    )]
    OutsideTolerance {
        timestamp: i64,
        now: i64,
        distance: u64,
        tolerance: i64,
    },
}

/// What a receiver does with a delivery: checks the `Lethe-Signature` header against the
/// body under the shared secret (in constant time), then refuses a signature made more than
/// `tolerance_seconds` before or after `now_unix` (a replay, or a clock far off).
///
/// The signature is checked first so that [`SignatureError::OutsideTolerance`] only ever
/// describes a delivery that Lethe did sign.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_seconds: i64,
) -> Result<(), SignatureError> {
    let (timestamp, candidates) = parse_header(header)?;
    let signed = signed_bytes(timestamp, body);
    if !candidates
        .iter()
        .any(|candidate| hmac_sha256_verify(secret, &signed, candidate))
    {
        return Err(SignatureError::Mismatch);
    }
    let distance = now_unix.abs_diff(timestamp);
    let tolerance = u64::try_from(tolerance_seconds).unwrap_or(0);
    if distance > tolerance {
        return Err(SignatureError::OutsideTolerance {
            timestamp,
            now: now_unix,
            distance,
            tolerance: tolerance_seconds,
        });
    }
    Ok(())
}

/// The bytes that are signed: the timestamp in decimal, a dot, the body.
fn signed_bytes(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    signed
}

/// The header's timestamp and its `v1` signatures.
fn parse_header(header: &str) -> Result<(i64, Vec<Vec<u8>>), SignatureError> {
    let malformed = |why: String| SignatureError::Malformed(why);
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let part = part.trim();
        let Some((key, value)) = part.split_once('=') else {
            return Err(malformed(format!("`{part}` is not KEY=VALUE")));
        };
        match key.trim() {
            "t" => {
                if timestamp.is_some() {
                    return Err(malformed("it has two timestamps (t=)".to_owned()));
                }
                let value = value.trim();
                let parsed = value.parse::<i64>().map_err(|_| {
                    malformed(format!("the timestamp `{value}` is not a whole number"))
                })?;
                timestamp = Some(parsed);
            }
            "v1" => {
                let value = value.trim();
                let bytes = from_hex(value).ok_or_else(|| {
                    malformed(format!("the v1 signature `{value}` is not hexadecimal"))
                })?;
                candidates.push(bytes);
            }
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Err(malformed("it has no timestamp (t=)".to_owned()));
    };
    if candidates.is_empty() {
        return Err(malformed("it has no v1 signature (v1=)".to_owned()));
    }
    Ok((timestamp, candidates))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_760_000_000;

    #[test]
    fn the_header_names_the_time_and_the_hmac_of_time_dot_body() {
        let header = signature_header(b"secret", NOW, b"{\"a\":1}");
        let expected = hex(&hmac_sha256(b"secret", b"1760000000.{\"a\":1}"));
        assert_eq!(header, format!("t=1760000000,v1={expected}"));
    }

    #[test]
    fn a_signed_body_is_accepted_within_the_tolerance_either_way() {
        let header = signature_header(b"secret", NOW, b"body");
        assert_eq!(
            verify_signature(b"secret", &header, b"body", NOW + 300, 300),
            Ok(())
        );
        assert_eq!(
            verify_signature(b"secret", &header, b"body", NOW - 300, 300),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_or_another_secret_is_a_mismatch() {
        let header = signature_header(b"secret", NOW, b"body");
        assert_eq!(
            verify_signature(b"secret", &header, b"bodY", NOW, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"other", &header, b"body", NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_changed_timestamp_is_a_mismatch_not_a_fresh_delivery() {
        let header = signature_header(b"secret", NOW - 3600, b"body");
        let moved = header.replace(&format!("t={}", NOW - 3600), &format!("t={NOW}"));
        assert_eq!(
            verify_signature(b"secret", &moved, b"body", NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_signature_is_refused_as_a_possible_replay() {
        let header = signature_header(b"secret", NOW - 301, b"body");
        let refused = verify_signature(b"secret", &header, b"body", NOW, 300);
        assert_eq!(
            refused,
            Err(SignatureError::OutsideTolerance {
                timestamp: NOW - 301,
                now: NOW,
                distance: 301,
                tolerance: 300,
            })
        );
        let message = refused.err().map(|error| error.to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|text| text.contains("301 s")),
            "{message:?}"
        );
    }

    #[test]
    fn extreme_timestamps_and_tolerances_do_not_overflow() {
        let header = signature_header(b"secret", i64::MIN, b"body");
        assert!(matches!(
            verify_signature(b"secret", &header, b"body", i64::MAX, i64::MAX),
            Err(SignatureError::OutsideTolerance { .. })
        ));
        let header = signature_header(b"secret", NOW, b"body");
        assert!(matches!(
            verify_signature(b"secret", &header, b"body", NOW, -1),
            Ok(())
        ));
        assert!(matches!(
            verify_signature(b"secret", &header, b"body", NOW + 1, -1),
            Err(SignatureError::OutsideTolerance { .. })
        ));
    }

    #[test]
    fn any_matching_v1_is_enough_and_other_schemes_are_ignored() {
        let header = signature_header(b"new", NOW, b"body");
        let old = signature_header(b"old", NOW, b"body");
        let old_v1 = old.split_once("v1=").map(|(_, v1)| v1).unwrap_or_default();
        let rotated = format!("{header},v1={old_v1},v2=abcdef");
        assert_eq!(
            verify_signature(b"old", &rotated, b"body", NOW, 300),
            Ok(())
        );
        assert_eq!(
            verify_signature(b"new", &rotated, b"body", NOW, 300),
            Ok(())
        );
    }

    #[test]
    fn unreadable_headers_are_malformed_and_say_why() {
        let cases = [
            ("", "not KEY=VALUE"),
            ("v1=00", "no timestamp"),
            ("t=1", "no v1 signature"),
            ("t=yesterday,v1=00", "not a whole number"),
            ("t=1,t=2,v1=00", "two timestamps"),
            ("t=1,v1=xyz", "not hexadecimal"),
            ("t=1,v1=0", "not hexadecimal"),
            ("t=1,v1=é0", "not hexadecimal"),
        ];
        for (header, why) in cases {
            match verify_signature(b"secret", header, b"body", NOW, 300) {
                Err(SignatureError::Malformed(text)) => {
                    assert!(text.contains(why), "{header:?}: {text}");
                }
                other => panic!("{header:?} gave {other:?}"),
            }
        }
    }

    proptest! {
        #[test]
        fn signing_then_verifying_holds_and_any_changed_byte_fails(
            secret in proptest::collection::vec(any::<u8>(), 0..80),
            body in proptest::collection::vec(any::<u8>(), 1..600),
            timestamp in 0i64..4_000_000_000,
            skew in -300i64..=300,
            position in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let header = signature_header(&secret, timestamp, &body);
            prop_assert_eq!(
                verify_signature(&secret, &header, &body, timestamp + skew, 300),
                Ok(())
            );
            let mut changed = body.clone();
            let index = position.index(changed.len());
            changed[index] ^= flip;
            prop_assert_eq!(
                verify_signature(&secret, &header, &changed, timestamp, 300),
                Err(SignatureError::Mismatch)
            );
        }

        #[test]
        fn a_changed_digit_of_the_signature_fails(
            secret in proptest::collection::vec(any::<u8>(), 0..80),
            body in proptest::collection::vec(any::<u8>(), 0..600),
            position in any::<prop::sample::Index>(),
            flip in 1u8..=15,
        ) {
            let header = signature_header(&secret, 1_000, &body);
            let (prefix, digits) = header.split_once("v1=").unwrap_or_default();
            let mut digits: Vec<char> = digits.chars().collect();
            let index = position.index(digits.len());
            let digit = digits[index].to_digit(16).unwrap_or(0);
            digits[index] = char::from_digit(digit ^ u32::from(flip), 16).unwrap_or('0');
            let changed = format!("{prefix}v1={}", digits.iter().collect::<String>());
            prop_assert_eq!(
                verify_signature(&secret, &changed, &body, 1_000, 300),
                Err(SignatureError::Mismatch)
            );
        }

        /// Another secret changed in one byte: a changed length would not always do, since
        /// HMAC pads a short key with zero bytes, so `k` and `k\0` are the same key.
        #[test]
        fn another_secret_fails(
            secret in proptest::collection::vec(any::<u8>(), 1..80),
            body in proptest::collection::vec(any::<u8>(), 0..600),
            position in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let header = signature_header(&secret, 1_000, &body);
            let mut other = secret.clone();
            let index = position.index(other.len());
            other[index] ^= flip;
            prop_assert_eq!(
                verify_signature(&other, &header, &body, 1_000, 300),
                Err(SignatureError::Mismatch)
            );
        }
    }
}
