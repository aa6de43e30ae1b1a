//! Secrets at rest: provider keys under AES-256-GCM, gateway keys as SHA-256 digests,
//! passwords as argon2id hashes (computed off the async threads).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::Rng as _;
use sha2::{Digest, Sha256};
use std::fmt;

const NONCE_LEN: usize = 12;
/// `gw_` and 40 alphanumerics: about 238 bits of entropy.
pub const GATEWAY_KEY_PREFIX: &str = "gw_";
const GATEWAY_KEY_RANDOM_LEN: usize = 40;
/// How much of a gateway key is kept in clear to tell keys apart (`gw_` + 8 characters).
pub const GATEWAY_KEY_SHOWN_LEN: usize = 11;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key must be base64 of exactly 32 bytes")]
    BadMasterKey,
    #[error("a stored secret could not be decrypted (wrong master key or corrupted data)")]
    Decrypt,
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
}

/// The 256-bit key that encrypts provider keys. Never printed.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = BASE64
            .decode(encoded.trim())
            .map_err(|_| CryptoError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadMasterKey)?;
        Ok(Self(Aes256Gcm::new(&key.into())))
    }

    /// A fresh random key, base64-encoded, for `GATEWAY_MASTER_KEY`.
    pub fn generate_base64() -> String {
        BASE64.encode(Aes256Gcm::generate_key(OsRng))
    }

    /// nonce ‖ ciphertext ‖ tag, with a random 96-bit nonce each time.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .0
            .encrypt(&nonce, plaintext)
            .expect("AES-GCM encryption cannot fail for inputs below 64 GiB");
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn decrypt(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| CryptoError::Decrypt)
    }
}

/// A newly minted gateway key: shown to its owner once, then only its digest is kept.
pub fn generate_gateway_key() -> String {
    let random: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(GATEWAY_KEY_RANDOM_LEN)
        .map(char::from)
        .collect();
    format!("{GATEWAY_KEY_PREFIX}{random}")
}

/// Whether a presented string has the shape of a gateway key at all.
pub fn looks_like_gateway_key(candidate: &str) -> bool {
    candidate.len() == GATEWAY_KEY_PREFIX.len() + GATEWAY_KEY_RANDOM_LEN
        && candidate.starts_with(GATEWAY_KEY_PREFIX)
        && candidate[GATEWAY_KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

/// SHA-256 of a gateway key, hex-encoded: what the database stores and lookups use. A fast hash is
/// right here (unlike passwords): the key carries 238 random bits, so it cannot be guessed.
pub fn key_digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// `sk-…wxyz`: enough to recognise a provider key, not enough to use it.
pub fn mask_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "…".to_string();
    }
    let head: String = chars.iter().take(3).collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// argon2id with the crate's defaults (19 MiB, 2 passes), on a blocking thread.
pub async fn hash_password(password: String) -> Result<String, CryptoError> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| CryptoError::PasswordHash(e.to_string()))
    })
    .await
    .map_err(|e| CryptoError::PasswordHash(e.to_string()))?
}

/// Checks a password against a stored hash, on a blocking thread. False for a malformed hash.
pub async fn verify_password(password: String, stored_hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let Ok(parsed) = PasswordHash::new(&stored_hash) else {
            return false;
        };
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_round_trips_with_a_fresh_nonce_each_time() {
        let key = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let a = key.encrypt(b"sk-secret");
        let b = key.encrypt(b"sk-secret");
        assert_ne!(a, b, "nonces must differ");
        assert_eq!(key.decrypt(&a).unwrap(), b"sk-secret");
        assert!(!a.windows(9).any(|w| w == b"sk-secret"));
    }

    #[test]
    fn a_different_master_key_cannot_decrypt() {
        let one = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let other = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        assert!(other.decrypt(&one.encrypt(b"x")).is_err());
        assert!(one.decrypt(b"short").is_err());
    }

    #[test]
    fn master_key_must_be_32_bytes() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }

    #[test]
    fn gateway_keys_have_the_documented_shape() {
        let key = generate_gateway_key();
        assert!(looks_like_gateway_key(&key), "{key}");
        assert_ne!(key, generate_gateway_key());
        assert!(!looks_like_gateway_key("gw_short"));
        assert!(!looks_like_gateway_key(&key.replace("gw_", "sk_")));
        assert_eq!(key_digest(&key).len(), 64);
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(mask_secret("sk-abcdefghijklmnop"), "sk-…mnop");
        assert_eq!(mask_secret("short"), "…");
    }

    #[tokio::test]
    async fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), hash.clone()).await);
        assert!(!verify_password("wrong".into(), hash).await);
        assert!(!verify_password("x".into(), "garbage".into()).await);
    }
}
