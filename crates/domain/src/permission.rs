//! Permissions, the configured catalogue they come from, and the
//! human-readable identifier a token carries.

use std::collections::BTreeSet;

/// The permission names this deployment knows, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionCatalogue(BTreeSet<String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("the permission catalogue is empty")]
    Empty,
    #[error("permission name {0:?} must be 1-64 characters of a-z, 0-9 and _")]
    BadName(String),
}

impl PermissionCatalogue {
    pub fn new<I, S>(names: I) -> Result<Self, CatalogueError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = BTreeSet::new();
        for name in names {
            let name = name.into();
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return Err(CatalogueError::BadName(name));
            }
            set.insert(name);
        }
        if set.is_empty() {
            return Err(CatalogueError::Empty);
        }
        Ok(Self(set))
    }

    /// Collapses duplicates; the error carries the first unknown name.
    pub fn resolve<I, S>(&self, names: I) -> Result<PermissionSet, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for name in names {
            let name = name.as_ref();
            if !self.0.contains(name) {
                return Err(name.to_owned());
            }
            set.insert(name.to_owned());
        }
        Ok(PermissionSet(set))
    }

    /// Every permission: what a user's own session may do.
    pub fn all(&self) -> PermissionSet {
        PermissionSet(self.0.clone())
    }
}

/// A set of permission names, sorted so documents are stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(BTreeSet<String>);

impl PermissionSet {
    /// For adapters reading back what the service already validated.
    pub fn from_trusted<I: IntoIterator<Item = String>>(names: I) -> Self {
        Self(names.into_iter().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The names space-separated: an OAuth2 `scope` (RFC 6749 §3.3).
    pub fn scope(&self) -> String {
        // Written in place: every introspection answer carries one.
        let mut scope = String::with_capacity(self.0.iter().map(|name| name.len() + 1).sum());
        for (at, name) in self.iter().enumerate() {
            if at > 0 {
                scope.push(' ');
            }
            scope.push_str(name);
        }
        scope
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A token's humanised name: 1–120 Unicode scalar values once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("identifier must not be empty")]
    Empty,
    #[error("identifier must be at most {max} characters", max = Identifier::MAX_CHARS)]
    TooLong,
    #[error("identifier must not contain control characters")]
    ControlCharacter,
}

impl Identifier {
    pub const MAX_CHARS: usize = 120;

    pub fn parse(text: &str) -> Result<Self, IdentifierError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(IdentifierError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(IdentifierError::TooLong);
        }
        // NUL cannot be stored in PostgreSQL text, and no control character
        // belongs in a name shown to people.
        if trimmed.chars().any(char::is_control) {
            return Err(IdentifierError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> PermissionCatalogue {
        PermissionCatalogue::new(["submit_score", "manage_rivals"]).expect("valid catalogue")
    }

    #[test]
    fn resolving_collapses_duplicates() {
        let set = catalogue()
            .resolve(["submit_score", "submit_score"])
            .expect("known permissions");
        assert_eq!(set.iter().collect::<Vec<_>>(), ["submit_score"]);
    }

    #[test]
    fn resolving_names_the_unknown_permission() {
        assert_eq!(
            catalogue().resolve(["submit_score", "launch_missiles"]),
            Err("launch_missiles".to_owned())
        );
    }

    #[test]
    fn catalogue_refuses_odd_names_and_emptiness() {
        assert!(PermissionCatalogue::new(["Has Space"]).is_err());
        assert!(PermissionCatalogue::new(Vec::<String>::new()).is_err());
    }

    #[test]
    fn identifiers_are_trimmed_and_bounded_in_characters() {
        assert_eq!(
            Identifier::parse("  My Token \n").map(Identifier::into_string),
            Ok("My Token".to_owned())
        );
        assert_eq!(Identifier::parse("   "), Err(IdentifierError::Empty));
        let max = "é".repeat(120);
        assert!(
            Identifier::parse(&max).is_ok(),
            "120 two-byte characters fit"
        );
        assert_eq!(
            Identifier::parse(&"é".repeat(121)),
            Err(IdentifierError::TooLong)
        );
        assert_eq!(
            Identifier::parse("a\u{0}b"),
            Err(IdentifierError::ControlCharacter)
        );
        assert_eq!(
            Identifier::parse("line\nbreak"),
            Err(IdentifierError::ControlCharacter)
        );
    }
}
