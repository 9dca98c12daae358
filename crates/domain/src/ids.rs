//! Identifiers of the people and programs Tessera deals with.

use std::fmt;

/// A user of the platform Tessera serves. Tessera does not own accounts:
/// any positive 64-bit id is a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserIdError {
    #[error("a user id is a positive decimal integer without leading zeros")]
    Malformed,
}

impl UserId {
    /// Accepts only the canonical form `[1-9][0-9]*` within `i64`, so one user
    /// has exactly one spelling (`01`, `+1` and `1.0` are refused).
    pub fn parse(text: &str) -> Result<Self, UserIdError> {
        let bytes = text.as_bytes();
        let canonical =
            matches!(bytes.first(), Some(b'1'..=b'9')) && bytes.iter().all(u8::is_ascii_digit);
        if !canonical {
            return Err(UserIdError::Malformed);
        }
        text.parse::<i64>()
            .map(Self)
            .map_err(|_| UserIdError::Malformed)
    }

    pub fn new(id: i64) -> Result<Self, UserIdError> {
        if id > 0 {
            Ok(Self(id))
        } else {
            Err(UserIdError::Malformed)
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The public id of an OAuth2 client (built-in `CX…` or stored `CI…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token's public name: a UUID, version 7 so ids sort
/// by creation time in indexes and logs. It reveals nothing of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(uuid::Uuid);

impl TokenId {
    /// A fresh id for a token created at `at` (Unix milliseconds).
    pub fn generate(at: crate::time::Timestamp) -> Self {
        let random: [u8; 10] = rand::random();
        let millis = u64::try_from(at.as_millis()).unwrap_or(0);
        Self(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
    }

    /// The hyphenated form only (`8-4-4-4-12` hex digits, either case), so a
    /// path segment is an id or a token, never both.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 36 {
            return None;
        }
        uuid::Uuid::try_parse(text).ok().map(Self)
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn token_ids_are_version_7_lowercase_and_parse_back() {
        let id = TokenId::generate(Timestamp::from_millis(1_764_337_200_000));
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "7", "version 7: {text}");
        assert_eq!(text, text.to_lowercase());
        assert_eq!(TokenId::parse(&text), Some(id));
        assert_eq!(TokenId::parse(&text.to_uppercase()), Some(id));
        assert_ne!(
            TokenId::generate(Timestamp::from_millis(1_764_337_200_000)),
            id
        );
        // Time-ordered: a later creation sorts after.
        assert!(TokenId::generate(Timestamp::from_millis(1_764_337_200_001)) > id);
    }

    #[test]
    fn only_the_hyphenated_form_is_a_token_id() {
        let id = TokenId::generate(Timestamp::from_millis(1));
        let simple = id.to_string().replace('-', "");
        assert_eq!(TokenId::parse(&simple), None);
        assert_eq!(TokenId::parse(&format!("{{{id}}}")), None);
        assert_eq!(
            TokenId::parse("tsr_0123456789ABCDEFGHIJKLMNOPQRSTUV10Oa8F"),
            None
        );
        assert_eq!(TokenId::parse(""), None);
    }

    #[test]
    fn canonical_user_ids_parse() {
        assert_eq!(UserId::parse("1").map(UserId::get), Ok(1));
        assert_eq!(
            UserId::parse("9223372036854775807").map(UserId::get),
            Ok(i64::MAX)
        );
    }

    #[test]
    fn non_canonical_user_ids_are_refused() {
        for text in [
            "",
            "0",
            "-1",
            "01",
            "+1",
            "abc",
            "1.0",
            " 1",
            "1 ",
            "9223372036854775808",
            "١",
        ] {
            assert_eq!(UserId::parse(text), Err(UserIdError::Malformed), "{text:?}");
        }
    }

    #[test]
    fn zero_and_negative_ids_are_refused() {
        assert!(UserId::new(0).is_err());
        assert!(UserId::new(-5).is_err());
        assert_eq!(UserId::new(5).map(UserId::get), Ok(5));
    }
}
