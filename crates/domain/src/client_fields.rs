//! What users (and configuration) say about an OAuth2 client, parsed once:
//! a value of these types has passed its rule, so the rule lives here and
//! nowhere else. They read as `&str` (`Deref`), which is
//! how they are stored.

use std::ops::Deref;

use url::Url;

const MAX_URI_LEN: usize = 2048;
/// Where a client's API-key template puts the token.
pub const TOKEN_PLACEHOLDER: &str = "%%TOKEN%%";
/// The same placeholder as Tachi's client documents spell it.
pub const TACHI_PLACEHOLDER: &str = "%%TACHI_KEY%%";

/// Why a field was refused, for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(String);

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_type!(
    /// 3–80 characters after trimming, no control characters.
    ClientName
);
text_type!(
    /// An absolute `http`/`https` URL with a named host, in the shape the
    /// API documents.
    HttpUrl
);
text_type!(
    /// A template holding [`TOKEN_PLACEHOLDER`] (or Tachi's
    /// [`TACHI_PLACEHOLDER`]), at most 4096 characters.
    ApiKeyTemplate
);
text_type!(
    /// A portable file name (`A-Z a-z 0-9 . _ -`, 1–255, not hidden).
    FileName
);

impl ClientName {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let trimmed = value.trim();
        let len = trimmed.chars().count();
        if !(3..=80).contains(&len) {
            return Err(FieldError("name must be 3-80 characters".into()));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(FieldError(
                "name must not contain control characters".into(),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }
}

/// The URL shape the API documents: `http(s)://`, a host of lower-case
/// labels each starting with a letter (nothing a parser reads as an IP
/// address), an optional port of up to four digits, and a path and query
/// of plain URL characters.
fn documented_url(value: &str) -> bool {
    let Some(rest) = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (host, port) = authority
        .split_once(':')
        .map_or((authority, None), |(host, port)| (host, Some(port)));
    let label = |l: &str| {
        l.starts_with(|c: char| c.is_ascii_lowercase())
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let port_ok =
        port.is_none_or(|p| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let plain = |c: char| c.is_ascii_alphanumeric() || "._~!$&'()*+,;=:@%/-".contains(c);
    let (path, query) = tail
        .split_once('?')
        .map_or((tail, None), |(path, query)| (path, Some(query)));
    host.split('.').all(label)
        && port_ok
        && path.chars().all(plain)
        && query.is_none_or(|q| q.chars().all(|c| plain(c) || c == '?'))
}

impl HttpUrl {
    /// `field` names the member in the error.
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError(format!("{field} must be an absolute http or https URL"));
        if value.len() > MAX_URI_LEN || !documented_url(value) {
            return Err(invalid());
        }
        let url = Url::parse(value).map_err(|_| invalid())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(invalid());
        }
        Ok(Self(value.to_owned()))
    }
}

impl ApiKeyTemplate {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        if !value.contains(TOKEN_PLACEHOLDER) && !value.contains(TACHI_PLACEHOLDER) {
            return Err(FieldError(format!(
                "apiKeyTemplate must contain {TOKEN_PLACEHOLDER} (or {TACHI_PLACEHOLDER})"
            )));
        }
        if value.chars().count() > 4096 {
            return Err(FieldError(
                "apiKeyTemplate must be at most 4096 characters".into(),
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

impl FileName {
    /// No folders, nothing a shell or a browser would interpret.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let portable = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        let good = (1..=255).contains(&value.len())
            && !value.starts_with('.')
            && value.chars().all(portable);
        if !good {
            return Err(FieldError(
                "apiKeyFilename must be 1-255 characters of A-Z a-z 0-9 . _ -, not starting with ."
                    .into(),
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_must_be_absolute_http_or_https() {
        assert!(HttpUrl::parse("redirectUri", "https://example.com/cb?x=1").is_ok());
        assert!(HttpUrl::parse("redirectUri", "http://localhost:8080/cb").is_ok());
        for bad in [
            "/relative",
            "ftp://example.com",
            "javascript:alert(1)",
            "https://",
            "https://exa mple.com",
            "",
        ] {
            assert!(HttpUrl::parse("redirectUri", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_templates_and_filenames() {
        assert_eq!(
            ClientName::parse("  My Client ").map(ClientName::into_string),
            Ok("My Client".to_owned())
        );
        assert!(ClientName::parse("ab").is_err());
        assert!(ClientName::parse(&"x".repeat(81)).is_err());
        assert!(
            ClientName::parse("My\u{7}Client").is_err(),
            "no control characters"
        );
        assert!(ApiKeyTemplate::parse("KEY=%%TOKEN%%").is_ok());
        assert!(ApiKeyTemplate::parse("KEY=").is_err());
        assert!(
            ApiKeyTemplate::parse("KEY=%%TACHI_KEY%%").is_ok(),
            "Tachi's spelling"
        );
        assert!(ApiKeyTemplate::parse("KEY=%%TACHI%%").is_err());
        assert!(FileName::parse("key.txt").is_ok());
        assert!(FileName::parse("../key").is_err());
        assert!(FileName::parse("").is_err());
    }
}
