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

/// An absolute `http`/`https` URL with a host.
pub fn uri(field: &str, value: &str) -> Result<String, String> {
    let invalid = || format!("{field} must be an absolute http or https URL");
    if value.len() > MAX_URI_LEN || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
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
    if value.len() > 4096 {
        return Err("apiKeyTemplate must be at most 4096 bytes".into());
    }
    Ok(value.to_owned())
}

/// A plain file name: no folders, nothing a shell or a browser would
/// interpret.
pub fn api_key_filename(value: &str) -> Result<String, String> {
    let bad = value.is_empty()
        || value.len() > 255
        || value == "."
        || value == ".."
        || value
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\');
    if bad {
        return Err("apiKeyFilename must be a file name of 1-255 bytes without folders".into());
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
