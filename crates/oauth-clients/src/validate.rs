//! Checks of what users send about their clients (contract §10).

use url::Url;

const MAX_URI_LEN: usize = 2048;
pub const TOKEN_PLACEHOLDER: &str = "%%TOKEN%%";

pub fn name(value: &str) -> Result<String, String> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if !(3..=80).contains(&len) {
        return Err("name must be 3-80 characters".into());
    }
    if trimmed.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(trimmed.to_owned())
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

/// An absolute `http`/`https` URL with a named host (see `documented_url`).
pub fn uri(field: &str, value: &str) -> Result<String, String> {
    let invalid = || format!("{field} must be an absolute http or https URL");
    if value.len() > MAX_URI_LEN || !documented_url(value) {
        return Err(invalid());
    }
    let url = Url::parse(value).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(value.to_owned())
}

pub fn api_key_template(value: &str) -> Result<String, String> {
    if !value.contains(TOKEN_PLACEHOLDER) {
        return Err(format!("apiKeyTemplate must contain {TOKEN_PLACEHOLDER}"));
    }
    if value.chars().count() > 4096 {
        return Err("apiKeyTemplate must be at most 4096 characters".into());
    }
    Ok(value.to_owned())
}

/// A file name from the portable set (`A-Z a-z 0-9 . _ -`, 1–255 of them),
/// not hidden (no leading `.`): no folders, nothing a shell or a browser
/// would interpret.
pub fn api_key_filename(value: &str) -> Result<String, String> {
    let portable = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let good =
        (1..=255).contains(&value.len()) && !value.starts_with('.') && value.chars().all(portable);
    if !good {
        return Err(
            "apiKeyFilename must be 1-255 characters of A-Z a-z 0-9 . _ -, not starting with ."
                .into(),
        );
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_must_be_absolute_http_or_https() {
        assert!(uri("redirectUri", "https://example.com/cb?x=1").is_ok());
        assert!(uri("redirectUri", "http://localhost:8080/cb").is_ok());
        for bad in [
            "/relative",
            "ftp://example.com",
            "javascript:alert(1)",
            "https://",
            "https://exa mple.com",
            "",
        ] {
            assert!(uri("redirectUri", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_templates_and_filenames() {
        assert_eq!(name("  My Client ").as_deref(), Ok("My Client"));
        assert!(name("ab").is_err());
        assert!(name(&"x".repeat(81)).is_err());
        assert!(api_key_template("KEY=%%TOKEN%%").is_ok());
        assert!(api_key_template("KEY=").is_err());
        assert!(api_key_filename("key.txt").is_ok());
        assert!(api_key_filename("../key").is_err());
        assert!(api_key_filename("").is_err());
    }
}
