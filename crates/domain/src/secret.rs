//! A string that never shows itself in `Debug` or `Display`, so a secret that
//! ends up in a log line or a panic message by accident prints as redacted.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The one deliberate way to read the secret; grep for it in review.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What logs may show of a token: its prefix and last four characters.
    pub fn redacted(&self, prefix_len: usize) -> String {
        redact(&self.0, prefix_len)
    }
}

/// Keeps the first `prefix_len` and the last 4 characters of `value`.
pub fn redact(value: &str, prefix_len: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= prefix_len + 8 {
        return "[redacted]".to_owned();
    }
    let head: String = chars[..prefix_len].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = SecretString::new("tsr_hunter2hunter2hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{secret}").contains("hunter2"));
        assert_eq!(secret.expose(), "tsr_hunter2hunter2hunter2");
    }

    #[test]
    fn redaction_keeps_prefix_and_last_four() {
        let secret = SecretString::new("tsr_abcdefghijklmnopqrstuvwxyz");
        assert_eq!(secret.redacted(4), "tsr_…wxyz");
        assert_eq!(redact("short", 4), "[redacted]");
    }
}
