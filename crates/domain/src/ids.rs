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

#[cfg(test)]
mod tests {
    use super::*;

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
