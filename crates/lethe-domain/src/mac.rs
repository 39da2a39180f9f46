//! HMAC-SHA-256 (RFC 2104 with SHA-256), the one keyed hash of Lethe: the history's seals,
//! the `hash` anonymisation and the signatures of outgoing webhooks all use it.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// A fresh HMAC-SHA-256 under `key`. HMAC takes keys of any length (a long key is hashed
/// first, RFC 2104 §2), so this is never `None`; the callers still answer something
/// sensible rather than panic.
fn keyed(key: &[u8]) -> Option<HmacSha256> {
    HmacSha256::new_from_slice(key).ok()
}

/// HMAC-SHA-256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let Some(mut mac) = keyed(key) else {
        return [0; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Whether `tag` is the HMAC-SHA-256 of `message` under `key`, compared in constant time, so
/// that someone who may try many tags learns nothing from how long a refusal takes.
pub fn hmac_sha256_verify(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let Some(mut mac) = keyed(key) else {
        return false;
    };
    mac.update(message);
    mac.verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// RFC 4231 §4.2, test case 1.
    #[test]
    fn matches_rfc_4231_test_case_1() {
        let digest = hmac_sha256(&[0x0b; 20], b"Hi There");
        assert_eq!(
            hex(&digest),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    /// RFC 4231 §4.3, test case 2: a key shorter than the output.
    #[test]
    fn matches_rfc_4231_test_case_2() {
        let digest = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&digest),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// RFC 4231 §4.7, test case 6: a key longer than the block is hashed first.
    #[test]
    fn a_long_key_is_hashed_first() {
        let digest = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex(&digest),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    /// RFC 4231 §4.8, test case 7: a long key and a long message.
    #[test]
    fn matches_rfc_4231_test_case_7() {
        let message = b"This is a test using a larger than block-size key and a larger than \
block-size data. The key needs to be hashed before being used by the HMAC algorithm.";
        let digest = hmac_sha256(&[0xaa; 131], message);
        assert_eq!(
            hex(&digest),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        );
    }

    #[test]
    fn verifying_accepts_the_tag_and_refuses_any_other() {
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert!(hmac_sha256_verify(
            b"Jefe",
            b"what do ya want for nothing?",
            &tag
        ));
        let mut changed = tag;
        changed[31] ^= 1;
        assert!(!hmac_sha256_verify(
            b"Jefe",
            b"what do ya want for nothing?",
            &changed
        ));
        assert!(!hmac_sha256_verify(
            b"Jefe",
            b"what do ya want for nothing?",
            &tag[..31]
        ));
        assert!(!hmac_sha256_verify(
            b"jefe",
            b"what do ya want for nothing?",
            &tag
        ));
    }
}
