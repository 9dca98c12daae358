//! "The database is down, too slow or full" as a kind of error of its own.
//! Adapters mark such failures with [`Unavailable`]; callers answer them
//! with `503` and `Retry-After` instead of `500`, which is kept for defects.

/// A store that could not answer in time, or at all. Carried inside an
/// `anyhow::Error` so it survives the ports' error types unchanged.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: the database is unavailable ({detail})")]
pub struct Unavailable {
    what: String,
    detail: String,
}

impl Unavailable {
    pub fn new(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Whether `error` (or any error it wraps) says the store is unavailable.
pub fn is_unavailable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<Unavailable>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_through_context_but_not_in_other_errors() {
        let marked = anyhow::Error::new(Unavailable::new("listing tokens", "pool timed out"))
            .context("outer");
        assert!(is_unavailable(&marked));
        assert!(!is_unavailable(&anyhow::anyhow!("a defect")));
    }
}
