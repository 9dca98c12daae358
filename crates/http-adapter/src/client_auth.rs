//! How the OAuth endpoints and the revocation feed read their requests and
//! authenticate their callers: parameters from a form or JSON body (RFC 6749
//! §3), client credentials by one rule (§2.3), resource servers.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine as _;
use futures_util::StreamExt as _;
use tessera_domain::OAuthClient;
use tessera_oauth_clients::OAuthError;

use crate::error::{ApiError, OAuthFailure, OAuthStatus, invalid_request, rfc6749_text};
use crate::state::AppState;

/// The request parameters, from a form or a JSON body.
/// A repeated parameter is an error (RFC 6749 §3.2).
pub async fn read_params(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<Params, actix_web::Error> {
    let (form, json) = if is_plain_form(req) {
        (true, false)
    } else {
        let mime = req.mime_type().ok().flatten();
        let form = mime.as_ref().is_some_and(|m| m.essence_str() == FORM);
        (form, mime.as_ref().is_some_and(crate::body::is_json))
    };
    if !form && !json {
        return Err(OAuthStatus::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/x-www-form-urlencoded or JSON",
        )
        .into());
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| invalid_request(format!("unreadable body: {e}")))?;
        if bytes.len() + chunk.len() > crate::BODY_LIMIT {
            return Err(OAuthStatus::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {} bytes", crate::BODY_LIMIT),
            )
            .into());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(parse_params(&bytes, form)?)
}

const FORM: &str = "application/x-www-form-urlencoded";

/// `Content-Type: application/x-www-form-urlencoded` without parameters,
/// what resource servers send on every introspection: known without
/// parsing a media type.
fn is_plain_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            value
                .as_bytes()
                .trim_ascii()
                .eq_ignore_ascii_case(FORM.as_bytes())
        })
}

/// The parameters of a form (`form`) or JSON body: strings only, empty
/// ones omitted (RFC 6749 §3.1), none repeated (§3.2).
pub fn parse_params(bytes: &[u8], form: bool) -> Result<Params, OAuthFailure> {
    let pairs: Vec<(String, String)> = if form {
        // Undecodable bytes become U+FFFD (the WHATWG rule): a form body
        // is never refused for its encoding.
        form_urlencoded::parse(bytes)
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect()
    } else {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
            .map_err(|e| invalid_request(format!("malformed JSON body: {e}")))?;
        object
            .into_iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => Ok((key, text)),
                _ => Err(invalid_request(format!("{key} must be a string"))),
            })
            .collect::<Result<_, _>>()?
    };
    // A parameter's name is never free text, even when its value is empty.
    if let Some((key, _)) = pairs.iter().find(|(key, _)| crate::body::has_control(key)) {
        return Err(invalid_request(format!(
            "parameter {} holds a control character",
            rfc6749_text(key)
        )));
    }
    // RFC 6749 §3.1: a parameter sent without a value is omitted.
    let mut pairs = pairs;
    pairs.retain(|(_, value)| !value.is_empty());
    if let Some(name) = repeated_name(&pairs) {
        return Err(invalid_request(format!("parameter {name} is repeated")));
    }
    Ok(Params(pairs))
}

/// A name that comes twice, if any. The few names of an OAuth request are
/// compared pairwise; more are sorted side by side, so that a repeat is
/// found in O(n log n) however many names a body brings.
fn repeated_name(pairs: &[(String, String)]) -> Option<&str> {
    const PAIRWISE: usize = 8;
    if pairs.len() <= PAIRWISE {
        return pairs
            .iter()
            .enumerate()
            .find(|(at, (name, _))| pairs[..*at].iter().any(|(earlier, _)| earlier == name))
            .map(|(_, (name, _))| name.as_str());
    }
    let mut names: Vec<&str> = pairs.iter().map(|(key, _)| key.as_str()).collect();
    names.sort_unstable();
    names
        .windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
}

/// A body's parameters, each name at most once. A list: the three or four
/// an OAuth request carries are found faster by comparing names than by
/// hashing them (this is on introspection's path, once per request).
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, key: &str) -> Option<&String> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let at = self.0.iter().position(|(name, _)| name == key)?;
        Some(self.0.swap_remove(at).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(name, value)| (name, value))
    }
}

/// Decodes one `application/x-www-form-urlencoded` component of HTTP Basic
/// credentials (RFC 6749 §2.3.1).
fn form_decode(text: &str) -> Option<String> {
    // Nothing to decode (the usual case): the text as it is.
    if !text.contains(['%', '+']) {
        return Some(text.to_owned());
    }
    // The whole component is one value: `&` and `=` in it are its own.
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// The client's credentials, by the one rule of every OAuth endpoint
/// (RFC 6749 §2.3): HTTP Basic or `client_id` + `client_secret` in the
/// body, not both; a body `client_id` beside Basic must name the same
/// client. A control character in them names no client.
fn client_credentials(
    req: &HttpRequest,
    params: &Params,
) -> Result<(String, String), OAuthFailure> {
    let invalid_client = |why: &str| OAuthFailure(OAuthError::InvalidClient(why.to_owned()));
    let basic = basic_credentials(req);
    let body_secret = params.get("client_secret");
    let (id, secret) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(invalid_request(
                "authenticate the client with HTTP Basic or the body, not both",
            ));
        }
        (Some(None), None) => return Err(invalid_client("malformed HTTP Basic credentials")),
        (Some(Some(credentials)), None) => credentials,
        (None, Some(secret)) => {
            let id = params.get("client_id").cloned().unwrap_or_default();
            (id, secret.clone())
        }
        (None, None) => return Err(invalid_client("client authentication is required")),
    };
    if let Some(body_id) = params.get("client_id")
        && body_id != &id
    {
        return Err(invalid_request(
            "client_id differs from the authenticated client",
        ));
    }
    if crate::body::has_control(&id) || crate::body::has_control(&secret) {
        return Err(invalid_client("unknown client or wrong secret"));
    }
    Ok((id, secret))
}

/// Refuses a control character in the value of any parameter but the
/// client's credentials (checked by `client_credentials`) and those named in
/// `any_text` (RFC 7009's `token`, which must be answered `200` whatever it
/// holds). Names were checked by `parse_params`.
pub fn reject_control(params: &Params, any_text: &[&str]) -> Result<(), OAuthFailure> {
    let checked =
        |key: &str| !matches!(key, "client_id" | "client_secret") && !any_text.contains(&key);
    match params
        .iter()
        .find(|(key, value)| checked(key) && crate::body::has_control(value))
    {
        Some((key, _)) => Err(invalid_request(format!(
            "parameter {} holds a control character",
            rfc6749_text(key)
        ))),
        None => Ok(()),
    }
}

/// The client authenticated by HTTP Basic or by `client_id` +
/// `client_secret` in the body (see [`client_credentials`]).
pub async fn authenticate_client(
    req: &HttpRequest,
    params: &Params,
    state: &AppState,
) -> Result<OAuthClient, OAuthFailure> {
    let (id, secret) = client_credentials(req, params)?;
    state
        .authenticate_client(id, secret)
        .await??
        .ok_or_else(|| {
            OAuthFailure(OAuthError::InvalidClient(
                "unknown client or wrong secret".into(),
            ))
        })
}

/// HTTP Basic credentials, form-decoded: `None` without a Basic header,
/// `Some(None)` for a malformed one.
fn basic_credentials(req: &HttpRequest) -> Option<Option<(String, String)>> {
    req.headers().get(header::AUTHORIZATION).map(|value| {
        let value = value.to_str().unwrap_or_default();
        let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        Some((form_decode(id)?, form_decode(secret)?))
    })
}

/// The resource server authenticated by the same rule as every OAuth
/// client (HTTP Basic or the body, not both), for introspection.
pub fn resource_server_of<'a>(
    req: &HttpRequest,
    params: &Params,
    state: &'a AppState,
) -> Result<&'a OAuthClient, OAuthFailure> {
    // What resource servers send on every call: HTTP Basic with their id
    // and secret, nothing in the body but possibly the same id. One
    // fingerprint of the header authenticates that; the general rule
    // decides everything else, with the same outcome for this case.
    if params.get("client_secret").is_none()
        && let Some(client) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                state
                    .oauth
                    .clients()
                    .resource_server_by_authorization(value)
            })
        && params
            .get("client_id")
            .is_none_or(|id| id == client.id.as_str())
    {
        return Ok(client);
    }
    let unauthorized = || {
        OAuthFailure(OAuthError::InvalidClient(
            "introspection needs a resource server's credentials".into(),
        ))
    };
    let (id, secret) = client_credentials(req, params).map_err(|e| match e.0 {
        OAuthError::InvalidRequest(_) => e,
        _ => unauthorized(),
    })?;
    state
        .oauth
        .clients()
        .authenticate_resource_server(&id, &secret)
        .ok_or_else(unauthorized)
}

/// The resource server of a non-OAuth endpoint (the revocation feed):
/// HTTP Basic only, errors as problem+json.
pub fn resource_server<'a>(
    req: &HttpRequest,
    state: &'a AppState,
) -> Result<&'a OAuthClient, ApiError> {
    resource_server_of(req, &Params::default(), state).map_err(|_| {
        ApiError::ClientUnauthorized(
            "this endpoint needs a resource server's HTTP Basic credentials",
        )
    })
}

/// Success responses of the token endpoints are never cached.
pub fn no_store(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::{form_decode, is_plain_form, parse_params};

    #[test]
    fn a_basic_component_is_decoded_whole() {
        assert_eq!(form_decode("plain").as_deref(), Some("plain"));
        assert_eq!(form_decode("a%26b+c").as_deref(), Some("a&b c"));
        // `&` and `=` belong to the value, encoded or not.
        assert_eq!(form_decode("x&y=z%20").as_deref(), Some("x&y=z "));
        assert_eq!(form_decode("%zz+").as_deref(), Some("%zz "));
        assert_eq!(form_decode("%ff%20"), None);
    }

    #[test]
    fn form_bodies_decode_plus_percent_and_bad_bytes() {
        let params = parse_params(b"token=a+b%2Bc&client_ip=%FF&empty=", true).expect("parsed");
        assert_eq!(params.get("token").map(String::as_str), Some("a b+c"));
        assert_eq!(
            params.get("client_ip").map(String::as_str),
            Some("\u{fffd}")
        );
        assert_eq!(params.get("empty"), None);
        assert!(parse_params(b"token=a&token=b", true).is_err());
    }

    #[test]
    fn a_repeated_name_is_found_among_few_and_among_many() {
        let repeated = |body: String| match parse_params(body.as_bytes(), true) {
            Err(failure) => failure.0.to_string(),
            Ok(_) => "accepted".to_owned(),
        };
        for count in [2, 8, 9, 40] {
            let names: Vec<String> = (0..count).map(|n| format!("p{n}")).collect();
            let distinct = names
                .iter()
                .map(|n| format!("{n}=v"))
                .collect::<Vec<_>>()
                .join("&");
            assert_eq!(repeated(distinct.clone()), "accepted", "{count} names");
            let last = &names[count - 1];
            let twice = format!("{distinct}&{last}=again");
            assert!(
                repeated(twice).contains(&format!("parameter {last} is repeated")),
                "{count}"
            );
            // An empty value is omitted, so it repeats nothing.
            assert_eq!(
                repeated(format!("{distinct}&{last}=")),
                "accepted",
                "{count}"
            );
        }
    }

    #[test]
    fn only_a_bare_form_type_skips_media_type_parsing() {
        let with = |value: &str| {
            TestRequest::default()
                .insert_header(("content-type", value))
                .to_http_request()
        };
        assert!(is_plain_form(&with("application/x-www-form-urlencoded")));
        assert!(is_plain_form(&with("Application/X-WWW-Form-URLEncoded ")));
        assert!(!is_plain_form(&with(
            "application/x-www-form-urlencoded; charset=utf-8"
        )));
        assert!(!is_plain_form(&with("application/json")));
        assert!(!is_plain_form(&TestRequest::default().to_http_request()));
    }
}
