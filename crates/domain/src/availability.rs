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

/// A failure shared by several callers (the items of one batch), for each:
/// whether the store was unavailable survives the copy, since it decides
/// `503` and whether a stale answer may stand in.
pub fn copy_error(error: &anyhow::Error) -> anyhow::Error {
    match error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Unavailable>())
    {
        Some(unavailable) => anyhow::Error::new(unavailable.clone()),
        None => anyhow::anyhow!("{error:#}"),
    }
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

    #[test]
    fn a_copy_keeps_unavailability_and_the_message() {
        let marked = anyhow::Error::new(Unavailable::new("looking tokens up", "pool timed out"))
            .context("outer");
        let copy = copy_error(&marked);
        assert!(is_unavailable(&copy));
        assert!(copy.to_string().contains("pool timed out"), "{copy}");
        let defect = copy_error(&anyhow::anyhow!("a defect").context("while inserting"));
        assert!(!is_unavailable(&defect));
        assert_eq!(defect.to_string(), "while inserting: a defect");
    }
}
