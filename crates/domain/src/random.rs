//! The one source of random text: alphanumeric characters from the
//! thread-local CSPRNG (ChaCha, seeded by the operating system). Tokens,
//! client ids and secrets, and authorization codes all draw from it.

use rand::RngExt;
use rand::distr::Alphanumeric;

/// Appends `len` random characters of `[A-Za-z0-9]` to `out`.
pub fn push_alphanumeric(out: &mut String, len: usize) {
    out.extend(
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(len)
            .map(char::from),
    );
}

/// `prefix` followed by `len` random characters of `[A-Za-z0-9]`.
pub fn alphanumeric(prefix: &str, len: usize) -> String {
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    push_alphanumeric(&mut out, len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_and_of_the_asked_length_from_the_alphabet() {
        let text = alphanumeric("CI", 40);
        assert!(text.starts_with("CI"));
        assert_eq!(text.len(), 42);
        assert!(text[2..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(text, alphanumeric("CI", 40), "two draws differ");
    }
}
