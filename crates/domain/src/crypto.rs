//! Keys derived from `security.secret_key` and what they do to secrets at
//! rest: a keyed hash (HMAC-SHA256) to find a token without storing it, and
//! AES-256-GCM to show it back in the list. A database dump without the key
//! reveals no token.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use sha2::Sha256;

use crate::secret::SecretString;

const NONCE_LEN: usize = 12;
pub const MIN_SECRET_KEY_BYTES: usize = 32;

/// The fingerprint a token is stored and looked up under.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Lowercase hex, as the revocation feed and introspection publish it.
    pub fn to_hex(&self) -> String {
        // Always ASCII: the check cannot fail.
        String::from_utf8(self.hex_digits().to_vec()).unwrap_or_default()
    }

    /// [`Self::to_hex`]'s ASCII digits, without an allocation: every
    /// introspection answer carries one. By table, not through `fmt` per
    /// byte (~3 % of an introspection's CPU time).
    pub fn hex_digits(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        out
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A keyed hash is no secret, but a short form keeps logs readable.
        write!(
            f,
            "TokenHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("security.secret_key must be base64")]
    NotBase64,
    #[error("security.secret_key must decode to at least {MIN_SECRET_KEY_BYTES} bytes")]
    TooShort,
    #[error("a sealed secret could not be opened (wrong key or corrupted row)")]
    Unsealable,
}

#[derive(Clone)]
pub struct Keyring {
    lookup: Hmac<Sha256>,
    seal: Aes256Gcm,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring([redacted])")
    }
}

impl Keyring {
    /// Derives both keys from the base64 root key with HKDF-SHA256, one
    /// `info` label per purpose so neither key says anything about the other.
    pub fn from_base64(root: &str) -> Result<Self, KeyringError> {
        let root = base64::engine::general_purpose::STANDARD
            .decode(root.trim())
            .map_err(|_| KeyringError::NotBase64)?;
        if root.len() < MIN_SECRET_KEY_BYTES {
            return Err(KeyringError::TooShort);
        }
        let hkdf = Hkdf::<Sha256>::new(Some(b"tessera"), &root);
        let mut lookup_key = [0u8; 32];
        let mut seal_key = [0u8; 32];
        hkdf.expand(b"tessera token lookup v1", &mut lookup_key)
            .and_then(|()| hkdf.expand(b"tessera token seal v1", &mut seal_key))
            .map_err(|_| KeyringError::TooShort)?;
        let lookup =
            Hmac::<Sha256>::new_from_slice(&lookup_key).map_err(|_| KeyringError::TooShort)?;
        let seal = Aes256Gcm::new(&Key::<Aes256Gcm>::from(seal_key));
        Ok(Self { lookup, seal })
    }

    pub fn fingerprint(&self, secret: &str) -> TokenHash {
        let mut mac = self.lookup.clone();
        mac.update(secret.as_bytes());
        TokenHash(mac.finalize().into_bytes().into())
    }

    /// `nonce ‖ ciphertext ‖ tag`, bound to its fingerprint as associated
    /// data so a ciphertext copied onto another row does not open.
    pub fn seal(&self, secret: &SecretString, hash: &TokenHash) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.expose().as_bytes(),
            aad: &hash.0,
        };
        let ciphertext = self
            .seal
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(&self, sealed: &[u8], hash: &TokenHash) -> Result<SecretString, KeyringError> {
        if sealed.len() < NONCE_LEN {
            return Err(KeyringError::Unsealable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| KeyringError::Unsealable)?;
        let plain = self
            .seal
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: &hash.0,
                },
            )
            .map_err(|_| KeyringError::Unsealable)?;
        String::from_utf8(plain)
            .map(SecretString::new)
            .map_err(|_| KeyringError::Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const OTHER_KEY: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

    #[test]
    fn fingerprints_print_as_lowercase_hex_two_digits_a_byte() {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&[0x00, 0x0f, 0xa5, 0xff]);
        bytes[31] = 0x10;
        let hex = TokenHash(bytes).to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex.starts_with("000fa5ff0000"), "{hex}");
        assert!(hex.ends_with("0010"), "{hex}");
    }

    fn keyring(key: &str) -> Keyring {
        Keyring::from_base64(key).expect("valid key")
    }

    #[test]
    fn sealed_secret_opens_back_and_hides_the_plain_text() {
        let keys = keyring(KEY);
        let secret = SecretString::new("tsr_plain_text_token_value");
        let hash = keys.fingerprint(secret.expose());
        let sealed = keys.seal(&secret, &hash);
        assert!(
            !sealed
                .windows(8)
                .any(|w| secret.expose().as_bytes().windows(8).any(|s| s == w)),
            "ciphertext must not contain plain-text fragments"
        );
        assert_eq!(keys.open(&sealed, &hash), Ok(secret));
    }

    #[test]
    fn fingerprints_are_deterministic_per_key_and_differ_across_keys() {
        assert_eq!(keyring(KEY).fingerprint("a"), keyring(KEY).fingerprint("a"));
        assert_ne!(keyring(KEY).fingerprint("a"), keyring(KEY).fingerprint("b"));
        assert_ne!(
            keyring(KEY).fingerprint("a"),
            keyring(OTHER_KEY).fingerprint("a")
        );
    }

    #[test]
    fn a_sealed_secret_does_not_open_under_another_key_or_row() {
        let keys = keyring(KEY);
        let secret = SecretString::new("tsr_x");
        let hash = keys.fingerprint("tsr_x");
        let sealed = keys.seal(&secret, &hash);
        assert!(keyring(OTHER_KEY).open(&sealed, &hash).is_err());
        assert!(keys.open(&sealed, &keys.fingerprint("tsr_y")).is_err());
        assert!(keys.open(&sealed[..5], &hash).is_err());
    }

    #[test]
    fn short_or_non_base64_root_keys_are_refused() {
        assert_eq!(
            Keyring::from_base64("c2hvcnQ=").map(|_| ()),
            Err(KeyringError::TooShort)
        );
        assert_eq!(
            Keyring::from_base64("not base64!").map(|_| ()),
            Err(KeyringError::NotBase64)
        );
    }
}
