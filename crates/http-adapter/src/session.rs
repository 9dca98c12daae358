//! Self-Key sessions: an HS256 JWT in a cookie, minted by the
//! service that performs logins (or `tessera session mint`), verified here.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tessera_domain::{SecretString, Timestamp, UserId};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECS: u64 = 60;

/// The `[session]` configuration section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    #[serde(default = "default_cookie_name")]
    pub cookie_name: String,
    pub secret: SecretString,
}

/// `session.cookie_name` when the configuration names none.
pub const DEFAULT_COOKIE_NAME: &str = "tessera_session";

fn default_cookie_name() -> String {
    DEFAULT_COOKIE_NAME.to_owned()
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session.secret must not be empty")]
    EmptySecret,
    #[error("invalid session: {0}")]
    Invalid(String),
    #[error("cannot sign a session: {0}")]
    Signing(String),
}

pub struct SessionCodec {
    cookie_name: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCodec")
            .field("cookie_name", &self.cookie_name)
            .finish_non_exhaustive()
    }
}

impl SessionCodec {
    pub fn new(settings: &SessionSettings) -> Result<Self, SessionError> {
        let secret = settings.secret.expose().as_bytes();
        if secret.is_empty() {
            return Err(SessionError::EmptySecret);
        }
        let signing = |e: jsonwebtoken::errors::Error| SessionError::Signing(e.to_string());
        // Only HS256: a token naming any other algorithm (`none`, RS256…) is
        // refused by the library before its signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        // Times are checked in `verify` against the service's clock, so
        // tests can move it; the library only checks presence.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            cookie_name: settings.cookie_name.clone(),
            encoding: EncodingKey::from_secret(secret).map_err(signing)?,
            decoding: DecodingKey::from_secret(secret).map_err(signing)?,
            validation,
        })
    }

    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The user a cookie value speaks for, if it is valid now.
    pub fn verify(&self, value: &str, now: Timestamp) -> Result<UserId, SessionError> {
        let invalid = |why: &str| SessionError::Invalid(why.to_owned());
        let data = jsonwebtoken::decode::<Claims>(value, &self.decoding, &self.validation)
            .map_err(|e| SessionError::Invalid(e.to_string()))?;
        let now_secs = u64::try_from(now.whole_secs()).unwrap_or(0);
        let claims = &data.claims;
        if claims.exp.saturating_add(LEEWAY_SECS) < now_secs {
            return Err(invalid("expired"));
        }
        let in_future = |at: Option<u64>| at.is_some_and(|at| at > now_secs + LEEWAY_SECS);
        if in_future(claims.nbf) || in_future(claims.iat) {
            return Err(invalid("not valid yet"));
        }
        UserId::parse(&data.claims.sub).map_err(|_| invalid("sub is not a user id"))
    }

    /// A cookie value for `user`, valid for `ttl_secs` from `now`.
    pub fn mint(
        &self,
        user: UserId,
        ttl_secs: u64,
        now: Timestamp,
    ) -> Result<SecretString, SessionError> {
        let now_secs = u64::try_from(now.whole_secs()).unwrap_or(0);
        let claims = Claims {
            sub: user.to_string(),
            exp: now_secs.saturating_add(ttl_secs),
            iat: Some(now_secs),
            nbf: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map(SecretString::new)
            .map_err(|e| SessionError::Signing(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_764_337_200_000);

    fn codec(secret: &str) -> SessionCodec {
        SessionCodec::new(&SessionSettings {
            cookie_name: "tessera_session".into(),
            secret: SecretString::new(secret),
        })
        .expect("codec")
    }

    fn user(id: i64) -> UserId {
        UserId::new(id).expect("positive")
    }

    fn raw(secret: &str, claims: &serde_json::Value, alg: Algorithm) -> String {
        let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
        jsonwebtoken::encode(&Header::new(alg), claims, &key).expect("encode")
    }

    #[test]
    fn minted_session_verifies_as_its_user() {
        let codec = codec("s3cret");
        let value = codec.mint(user(42), 3600, NOW).expect("mint");
        assert_eq!(codec.verify(value.expose(), NOW).expect("valid"), user(42));
    }

    #[test]
    fn another_secret_or_tampering_is_refused() {
        let value = codec("one").mint(user(1), 3600, NOW).expect("mint");
        assert!(codec("two").verify(value.expose(), NOW).is_err());
        let mut tampered = value.expose().to_owned();
        tampered.insert(tampered.len() / 2, 'x');
        assert!(codec("one").verify(&tampered, NOW).is_err());
        assert!(codec("one").verify("not a jwt", NOW).is_err());
    }

    #[test]
    fn expiry_and_not_before_allow_sixty_seconds_of_skew() {
        let codec = codec("k");
        let now = NOW.whole_secs() as u64;
        let token = |claims: serde_json::Value| raw("k", &claims, Algorithm::HS256);
        let ok = |claims| codec.verify(&token(claims), NOW).is_ok();
        assert!(
            ok(serde_json::json!({"sub": "1", "exp": now - 30})),
            "exp within leeway"
        );
        assert!(
            !ok(serde_json::json!({"sub": "1", "exp": now - 61})),
            "expired"
        );
        assert!(
            !ok(serde_json::json!({"sub": "1", "exp": now + 600, "nbf": now + 61})),
            "future nbf"
        );
        assert!(
            ok(serde_json::json!({"sub": "1", "exp": now + 600, "nbf": now + 60})),
            "nbf in leeway"
        );
        assert!(
            !ok(serde_json::json!({"sub": "1", "exp": now + 600, "iat": now + 3600})),
            "future iat"
        );
        assert!(ok(
            serde_json::json!({"sub": "1", "exp": now + 600, "iat": now - 5})
        ));
    }

    #[test]
    fn only_hs256_and_a_positive_integer_subject_are_accepted() {
        let codec = codec("k");
        let exp = NOW.whole_secs() as u64 + 600;
        let now = NOW;
        let hs384 = raw(
            "k",
            &serde_json::json!({"sub": "1", "exp": exp}),
            Algorithm::HS384,
        );
        assert!(codec.verify(&hs384, now).is_err());
        for sub in [
            serde_json::json!("0"),
            serde_json::json!("-1"),
            serde_json::json!("abc"),
            serde_json::json!(1),
            serde_json::json!("01"),
        ] {
            let token = raw(
                "k",
                &serde_json::json!({"sub": sub, "exp": exp}),
                Algorithm::HS256,
            );
            assert!(codec.verify(&token, now).is_err(), "{sub}");
        }
        let no_exp = raw("k", &serde_json::json!({"sub": "1"}), Algorithm::HS256);
        assert!(codec.verify(&no_exp, now).is_err());
        // alg "none": header {"alg":"none"}, no signature.
        let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(codec.verify(none, now).is_err());
    }
}
