//! Stripe's webhook signatures (`Stripe-Signature: t=…,v1=…`), as Stripe documents them.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// How old a signed webhook may be, as Stripe's own libraries default to.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Stripe signs with one secret, two while a secret is being rolled: a header with more `v1`
/// entries is not Stripe's.
pub const MAX_SIGNATURES: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Checks a `Stripe-Signature` header (`t=…,v1=…[,v1=…]`) against the payload: one `v1` must be
/// the HMAC-SHA256 of `"{t}.{payload}"` under the endpoint's secret, and `t` within the tolerance
/// of `now_secs`. Other schemes (`v0`) are ignored, as Stripe's libraries do.
pub fn verify_signature(
    payload: &[u8],
    header: Option<&str>,
    secret: &str,
    now_secs: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed);
        };
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" if signatures.len() == MAX_SIGNATURES => return Err(SignatureError::Malformed),
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Err(SignatureError::Malformed);
    };
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // The timestamp is the sender's: i64::MIN must not overflow the difference.
    if now_secs.abs_diff(timestamp) > SIGNATURE_TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    // One HMAC over the payload, however many signatures the header carries.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let expected = mac.finalize().into_bytes();
    // Constant-time comparison (a length mismatch is not secret).
    let matches = signatures
        .iter()
        .any(|signature| bool::from(expected.as_slice().ct_eq(signature.as_slice())));
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header Stripe would send for `payload` at `timestamp`: for tests and the fake Stripe.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn signatures_as_stripe_documents_them() {
        let payload = br#"{"id":"evt_1","object":"event"}"#;
        let now = 1_795_736_771;
        let header = sign(payload, SECRET, now);
        assert!(header.starts_with(&format!("t={now},v1=")));
        assert_eq!(
            verify_signature(payload, Some(&header), SECRET, now + 10),
            Ok(())
        );
        // Several v1 signatures (during secret rotation): one match is enough; v0 is ignored.
        let rotated = format!(
            "t={now},v0=abcd,v1={},{}",
            "00".repeat(32),
            header.split(',').nth(1).unwrap()
        );
        assert_eq!(
            verify_signature(payload, Some(&rotated), SECRET, now),
            Ok(())
        );

        assert_eq!(
            verify_signature(payload, None, SECRET, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(payload, Some("nonsense"), SECRET, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(payload, Some(&format!("t={now}")), SECRET, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(payload, Some(&header), "whsec_other", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"{\"id\":\"evt_2\"}", Some(&header), SECRET, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(payload, Some(&header), SECRET, now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(payload, Some(&header), SECRET, now - 301),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn a_header_with_more_signatures_than_stripe_sends_is_refused() {
        let payload = br#"{"id":"evt_1","object":"event"}"#;
        let now = 1_795_736_771;
        let genuine = sign(payload, SECRET, now);
        let genuine_v1 = genuine.split(',').nth(1).unwrap();
        let padded = |wrong: usize| {
            let mut header = format!("t={now}");
            for _ in 0..wrong {
                header.push_str(&format!(",v1={}", "00".repeat(32)));
            }
            format!("{header},{genuine_v1}")
        };
        assert_eq!(
            verify_signature(payload, Some(&padded(MAX_SIGNATURES - 1)), SECRET, now),
            Ok(())
        );
        // Thousands of entries would each have cost an HMAC over the whole body.
        assert_eq!(
            verify_signature(payload, Some(&padded(MAX_SIGNATURES)), SECRET, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(payload, Some(&padded(5_000)), SECRET, now),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn a_known_signature_vector() {
        // HMAC-SHA256("whsec_test_secret", "1600000000.{}") computed independently with
        // `printf '1600000000.{}' | openssl dgst -sha256 -hmac whsec_test_secret`.
        let header = sign(b"{}", SECRET, 1_600_000_000);
        assert_eq!(header, format!("t=1600000000,v1={}", KNOWN_V1));
    }

    const KNOWN_V1: &str = include_str!("../../../testkit/fixtures/stripe/known_signature.txt");

    #[test]
    fn extreme_timestamps_are_refused_not_overflowed() {
        for (sent, now) in [
            (i64::MIN, 1_700_000_000),
            (i64::MAX, -1),
            (1_700_000_000, i64::MIN),
        ] {
            let header = format!("t={sent},v1={}", "0".repeat(64));
            assert_eq!(
                verify_signature(b"{}", Some(&header), "whsec_x", now),
                Err(SignatureError::Stale)
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn any_header_is_accepted_or_refused_without_panic(
                header in prop_oneof![".{0,200}", "(t=-?[0-9]{0,20},?|v1=[0-9a-f]{0,70},?|v0=[a-z]{0,4},?|,|=){0,12}"],
                payload in prop::collection::vec(any::<u8>(), 0..64),
                now in any::<i64>(),
            ) {
                let _ = verify_signature(&payload, Some(&header), SECRET, now);
            }

            #[test]
            fn a_signed_payload_verifies_and_any_change_to_it_does_not(
                payload in prop::collection::vec(any::<u8>(), 1..256),
                flip in any::<prop::sample::Index>(),
                timestamp in 1_000_000_000i64..4_000_000_000,
                skew in -300i64..=300,
            ) {
                let header = sign(&payload, SECRET, timestamp);
                prop_assert_eq!(verify_signature(&payload, Some(&header), SECRET, timestamp + skew), Ok(()));
                let mut tampered = payload.clone();
                let at = flip.index(tampered.len());
                tampered[at] ^= 0x01;
                prop_assert!(verify_signature(&tampered, Some(&header), SECRET, timestamp).is_err());
                prop_assert!(verify_signature(&payload, Some(&header), "whsec_other", timestamp).is_err());
            }
        }
    }
}
