//! Who is calling: the session cookie first, then a Bearer
//! token; and the Self-Key rule that only a user's own session manages
//! that user's tokens, as an extractor (`SelfKey`) every Self-Key handler
//! takes.

use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, COOKIE};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use std::net::IpAddr;

use tessera_domain::{Lookup, Networks, Principal, Sighting, UserId, VerifyError};

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug)]
pub enum Caller {
    Session(UserId),
    Token(Principal),
    Anonymous,
}

/// The `{userID}` of a path: a canonical positive integer, or `me`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRef {
    Me,
    Id(UserId),
}

impl UserRef {
    /// Checked before any credential, so a malformed id is always `400`.
    pub fn from_path(req: &HttpRequest) -> Result<Self, ApiError> {
        let raw = req.match_info().get("userID").unwrap_or_default();
        if raw == "me" {
            return Ok(Self::Me);
        }
        UserId::parse(raw).map(Self::Id).map_err(|_| {
            ApiError::BadRequest(
                "userID must be a positive integer without leading zeros and below 2^63 \
                 (9223372036854775808), or `me`"
                    .to_owned(),
            )
        })
    }
}

/// The raw value of the named cookie. Read from the headers rather than
/// through actix's cookie jar, which silently drops a value that is not
/// valid percent-encoded UTF-8: such a cookie must count as present and
/// invalid (401), not as absent.
fn raw_cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a [u8]> {
    req.headers()
        .get_all(COOKIE)
        .flat_map(|header| header.as_bytes().split(|b| *b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let at = pair.iter().position(|b| *b == b'=')?;
            (pair[..at].trim_ascii() == name.as_bytes()).then(|| pair[at + 1..].trim_ascii())
        })
}

/// Where a Bearer token is being used, for `lastUsedBy`/`lastUsedIps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsedAt {
    /// `/api/v1/status`: the place and the client's address are recorded.
    Status,
    /// Any other endpoint: only the time is.
    Elsewhere,
}

/// What a request presents, by the credential precedence: a session cookie
/// (valid, or `401`) decides before any `Authorization` header.
enum Credentials<'a> {
    Session(UserId),
    Bearer(&'a str),
    None,
}

fn credentials<'a>(req: &'a HttpRequest, state: &AppState) -> Result<Credentials<'a>, ApiError> {
    if let Some(cookie) = raw_cookie(req, state.sessions.cookie_name()) {
        let value = std::str::from_utf8(cookie).unwrap_or_default();
        return state
            .sessions
            .verify(value, state.tokens.now())
            .map(Credentials::Session)
            .map_err(|e| {
                tracing::debug!(reason = %e, "session cookie refused");
                ApiError::Unauthorized("the session cookie is invalid or expired")
            });
    }
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        return Ok(Credentials::None);
    };
    bearer_token(header.as_bytes())
        .map(Credentials::Bearer)
        .ok_or(ApiError::Unauthorized(
            "the Authorization header must be `Bearer <token>`",
        ))
}

pub async fn identify(
    req: &HttpRequest,
    state: &AppState,
    used_at: UsedAt,
) -> Result<Caller, ApiError> {
    let token = match credentials(req, state)? {
        Credentials::Session(user) => return Ok(Caller::Session(user)),
        Credentials::None => return Ok(Caller::Anonymous),
        Credentials::Bearer(token) => token,
    };
    // Where the client is: recorded for `/api/v1/status`, otherwise looked
    // up only for a token restricted to addresses.
    let client = (used_at == UsedAt::Status).then(|| client_address(req, &state.trusted_proxies));
    let sighting = client.map_or_else(Sighting::none, Sighting::status);
    let origin = || client.unwrap_or_else(|| client_address(req, &state.trusted_proxies));
    match verify_token(state, req, token, sighting, None, origin).await? {
        Ok(principal) => Ok(Caller::Token(principal)),
        Err(VerifyError::Unexpected(e)) => Err(e.into()),
        Err(_) => Err(ApiError::Unauthorized(
            "the bearer token is invalid, expired or revoked",
        )),
    }
}

/// Verifies a token as cheaply as it can: malformed tokens and cache hits
/// are answered on the worker; only a cache miss costs a trip to the
/// blocking pool and the store. A use is noted with `sighting`; `origin`
/// (the caller's address) is asked only for a token restricted to
/// addresses. A canary is reported (presented in `req`, through
/// `resource_server` if any) and answered as [`VerifyError::Unknown`]. The
/// outer error is the pool's.
pub async fn verify_token(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    sighting: Sighting<'_>,
    resource_server: Option<&str>,
    origin: impl FnOnce() -> Option<IpAddr>,
) -> Result<Result<Principal, VerifyError>, ApiError> {
    let outcome = match state.tokens.lookup(token, &sighting) {
        Lookup::Answered(answer) => answer,
        // Boxed: the miss's future (a batch's channel, its deadline timer)
        // is large, and held inline it made every handler's future a
        // multi-kilobyte allocation that glibc serves off its slow path,
        // hits included.
        Lookup::Miss(hash) => Box::pin(state.verify_stored(hash, sighting.into_owned())).await?,
    };
    let outcome = match outcome {
        Ok(principal) => {
            if principal.allowed_ips.is_none() || principal.admits(origin()) {
                Ok(principal)
            } else {
                Err(VerifyError::Restricted)
            }
        }
        Err(VerifyError::Canary(canary)) => {
            crate::canary::report(state, req, canary, origin(), resource_server);
            Err(VerifyError::Unknown)
        }
        Err(refused) => Err(refused),
    };
    crate::metrics::record_verification(&outcome);
    Ok(outcome)
}

/// The address of the client a request comes from: the
/// TCP peer's, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not one. `None` when that entry does not
/// parse: an address-restricted token is then refused (fail closed).
pub fn client_address(req: &HttpRequest, trusted: &Networks) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        let address = entry.parse::<IpAddr>().ok()?;
        client = address;
        if !trusted.contains(address) {
            break;
        }
    }
    Some(client)
}

/// The API token a request presents to act on itself (self-rotation),
/// after the credential precedence: a session cookie, valid or not, decides
/// first — a session has no token of its own to rotate.
pub(crate) fn presented_token<'a>(
    req: &'a HttpRequest,
    state: &AppState,
) -> Result<&'a str, ApiError> {
    match credentials(req, state)? {
        Credentials::Bearer(token) => Ok(token),
        Credentials::Session(_) => Err(ApiError::Forbidden(
            "a session rotates a token by its id: \
             POST /api/v1/users/{userID}/api-tokens/{id}/rotate",
        )),
        Credentials::None => Err(ApiError::Unauthorized(
            "this endpoint needs the token itself: `Authorization: Bearer <token>`",
        )),
    }
}

/// `Bearer <token>`, scheme case-insensitive (RFC 7235), one space after
/// it, the token non-empty and without spaces once the spaces and tabs
/// around it are trimmed; the whole value visible ASCII or tabs (what
/// `HeaderValue::to_str` takes). One pass over the bytes: every
/// verification parses one.
fn bearer_token(value: &[u8]) -> Option<&str> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme[..6].eq_ignore_ascii_case(b"bearer") || scheme[6] != b' ' {
        return None;
    }
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = rest.iter().position(|b| !blank(b))?;
    let end = rest.iter().rposition(|b| !blank(b))?;
    // Only blanks lie around `token`, by the positions above.
    let token = &rest[start..=end];
    // Without short-circuit, so that it runs on whole vectors of bytes.
    let visible = token.iter().fold(true, |all, b| {
        all & ((0x21..0x7f).contains(b) | (*b == b'\t'))
    });
    if !visible {
        return None;
    }
    std::str::from_utf8(token).ok()
}

/// The user whose tokens the request may manage (Self-Key).
async fn require_self_key(
    req: &HttpRequest,
    state: &AppState,
    target: UserRef,
) -> Result<UserId, ApiError> {
    match identify(req, state, UsedAt::Elsewhere).await? {
        Caller::Session(user) => match target {
            UserRef::Me => Ok(user),
            UserRef::Id(id) if id == user => Ok(user),
            UserRef::Id(_) => Err(ApiError::Forbidden(
                "a session may only manage its own user's tokens",
            )),
        },
        Caller::Token(_) => Err(ApiError::Forbidden(
            "API tokens cannot manage tokens; use the user's session",
        )),
        Caller::Anonymous => Err(ApiError::Unauthorized(
            "this endpoint needs the user's session cookie",
        )),
    }
}

/// The Self-Key extractor: the user a Self-Key endpoint acts for. The
/// path's `{userID}` (or `me` where the path has none) is checked first,
/// then the caller must be that user's session.
#[derive(Debug, Clone, Copy)]
pub struct SelfKey(pub UserId);

impl FromRequest for SelfKey {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let target = match req.match_info().get("userID") {
                Some(_) => UserRef::from_path(&req)?,
                None => UserRef::Me,
            };
            let state = AppState::of(&req)?;
            require_self_key(&req, state, target).await.map(Self)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer_token(b"bearer abc"), Some("abc"));
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer a b"), None);
    }

    /// What the header parsing was written as first (through
    /// `HeaderValue::to_str` and `str` methods): the one-pass parser must
    /// answer every value as it did.
    fn reference(value: &[u8]) -> Option<String> {
        let value = actix_web::http::header::HeaderValue::from_bytes(value).ok()?;
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
            .then(|| token.to_owned())
    }

    #[test]
    fn the_one_pass_parser_agrees_with_the_reference() {
        let pieces: [&[u8]; 14] = [
            b"Bearer",
            b"bearer",
            b"BEARER",
            b"Basic",
            b" ",
            b"  ",
            b"\t",
            b"tsr_abc",
            b"a b",
            b"\x7f",
            "é".as_bytes(),
            b"\x0c",
            b"x\ty",
            b"",
        ];
        let mut checked = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let value = [a, b, c].concat();
                    if actix_web::http::header::HeaderValue::from_bytes(&value).is_err() {
                        continue;
                    }
                    assert_eq!(
                        bearer_token(&value).map(str::to_owned),
                        reference(&value),
                        "{:?}",
                        String::from_utf8_lossy(&value)
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 1500, "{checked} values");
        // The values that matter most, among them.
        assert_eq!(bearer_token(b"Bearer  tsr_abc\t"), Some("tsr_abc"));
        assert_eq!(bearer_token(b"Bearer\ttsr_abc"), None);
        assert_eq!(bearer_token("Bearer tsr_é".as_bytes()), None);
    }
}
