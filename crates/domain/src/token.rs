//! The shape of a token: prefix, 32 random base62 characters
//! and a 6-character CRC32 checksum, so a mistyped or forged-looking token is
//! refused without a database lookup.

use crate::secret::SecretString;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 32 × log2(62) ≈ 190.5 bits of entropy.
pub const RANDOM_LEN: usize = 32;
pub const CHECKSUM_LEN: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFormat {
    prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("token prefix must be 1-16 ASCII letters, digits, '_' or '-'")]
    BadPrefix,
    #[error("not a token of this service")]
    Malformed,
}

impl TokenFormat {
    pub fn new(prefix: impl Into<String>) -> Result<Self, TokenFormatError> {
        let prefix = prefix.into();
        let valid = !prefix.is_empty()
            && prefix.len() <= 16
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self { prefix })
        } else {
            Err(TokenFormatError::BadPrefix)
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn token_len(&self) -> usize {
        self.prefix.len() + RANDOM_LEN + CHECKSUM_LEN
    }

    /// A fresh token from the thread-local CSPRNG (ChaCha seeded by the OS).
    pub fn generate(&self) -> SecretString {
        let mut token = String::with_capacity(self.token_len());
        token.push_str(&self.prefix);
        crate::random::push_alphanumeric(&mut token, RANDOM_LEN);
        let sum = checksum(token.as_bytes());
        token.push_str(std::str::from_utf8(&sum).unwrap_or_default());
        SecretString::new(token)
    }

    /// Whether `candidate` has a token's length and prefix: the cheap
    /// part of [`Self::check`].
    pub fn fits(&self, candidate: &str) -> bool {
        candidate.len() == self.token_len() && candidate.starts_with(&self.prefix)
    }

    /// Checks prefix, length, alphabet and checksum; no IO.
    pub fn check(&self, candidate: &str) -> Result<(), TokenFormatError> {
        let bytes = candidate.as_bytes();
        if !self.fits(candidate) {
            return Err(TokenFormatError::Malformed);
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if !bytes[self.prefix.len()..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
        {
            return Err(TokenFormatError::Malformed);
        }
        if checksum(body) != sum {
            return Err(TokenFormatError::Malformed);
        }
        Ok(())
    }
}

/// CRC32 (IEEE, as zlib) in base62, most significant digit first, zero-padded.
fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32fast::hash(bytes);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format() -> TokenFormat {
        TokenFormat::new("tsr_").expect("valid prefix")
    }

    #[test]
    fn checksum_matches_zlib_crc32_in_base62() {
        // CRC32 check value of "123456789" is 0xCBF43926; Python's
        // zlib.crc32 in base62 with this alphabet gives "3jZRME".
        assert_eq!(&checksum(b"123456789"), b"3jZRME");
        assert_eq!(&checksum(b""), b"000000");
    }

    #[test]
    fn generated_tokens_have_the_documented_shape_and_pass_the_check() {
        let format = format();
        let token = format.generate();
        let text = token.expose();
        assert!(text.starts_with("tsr_"));
        assert_eq!(text.len(), 4 + 32 + 6);
        assert!(text[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(format.check(text), Ok(()));
        assert_ne!(format.generate(), token, "two tokens must differ");
    }

    #[test]
    fn any_single_character_change_is_caught_by_the_check() {
        let format = format();
        let token = format.generate().expose().to_owned();
        for position in 4..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).expect("ascii");
            assert_eq!(format.check(&typo), Err(TokenFormatError::Malformed));
        }
    }

    #[test]
    fn wrong_prefix_length_or_alphabet_is_malformed() {
        let format = format();
        let token = format.generate().expose().to_owned();
        assert!(format.check(&token.replacen("tsr_", "abc_", 1)).is_err());
        assert!(format.check(&token[..token.len() - 1]).is_err());
        assert!(format.check(&format!("{token}0")).is_err());
        assert!(format.check(&token.replacen('_', "!", 1)).is_err());
        assert!(format.check("").is_err());
        assert!(format.check(&"é".repeat(21)).is_err());
    }

    #[test]
    fn prefixes_are_restricted_to_safe_characters() {
        assert!(TokenFormat::new("").is_err());
        assert!(TokenFormat::new("a b").is_err());
        assert!(TokenFormat::new("x".repeat(17)).is_err());
        assert!(TokenFormat::new("acme-").is_ok());
    }
}
