//! The JSON shapes of the contract (§2, §4, §6) and their one-place
//! conversion to and from domain types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_domain::{ApiToken, PermissionSet, Timestamp};
use tessera_domain::{CreateTokenRequest, TokenSource};

use crate::error::ApiError;

/// `APITokenDocument`: the seed's five fields, then the additive ones.
/// Times are Unix milliseconds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = APITokenDocument)]
pub struct TokenDocument {
    #[schema(example = "Fervidex Token")]
    identifier: String,
    /// The token itself, shown back in full to its owner.
    #[schema(example = "tsr_0123456789ABCDEFGHIJKLMNOPQRSTUV10Oa8F")]
    token: String,
    /// Permission names as keys, every value `true`.
    #[schema(example = json!({"submit_score": true}))]
    permissions: BTreeMap<String, bool>,
    #[serde(rename = "userID")]
    #[schema(example = 1)]
    user_id: i64,
    /// The OAuth2 client the token was issued from; `null` for a token made
    /// from a permission list.
    #[serde(rename = "fromAPIClient")]
    #[schema(required = true, example = "CXFervidex")]
    from_api_client: Option<String>,
    #[serde(rename = "createdAt")]
    #[schema(value_type = i64, example = 1_764_337_200_000_i64)]
    created_at: Timestamp,
    /// `null`: never expires. An expired token stays listed until deleted.
    #[serde(rename = "expiresAt")]
    #[schema(value_type = Option<i64>, required = true)]
    expires_at: Option<Timestamp>,
    #[serde(rename = "lastUsedAt")]
    #[schema(value_type = Option<i64>, required = true)]
    last_used_at: Option<Timestamp>,
}

pub fn permission_object(set: &PermissionSet) -> BTreeMap<String, bool> {
    set.iter().map(|p| (p.to_owned(), true)).collect()
}

impl From<ApiToken> for TokenDocument {
    fn from(token: ApiToken) -> Self {
        Self {
            identifier: token.identifier,
            token: token.token.expose().to_owned(),
            permissions: permission_object(&token.permissions),
            user_id: token.user_id.get(),
            from_api_client: token.from_api_client.map(|c| c.to_string()),
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
        }
    }
}

/// Body of `POST …/api-tokens/create`: exactly one of `permissions` (with
/// `identifier`) or `clientID`. `null` counts as absent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"identifier": "My script", "permissions": ["submit_score"]}))]
pub struct CreateTokenBody {
    /// Names from the configured catalogue; may be empty, duplicates collapse.
    permissions: Option<Vec<String>>,
    /// Make the token from this OAuth2 client: its permissions, its name.
    #[serde(rename = "clientID")]
    client_id: Option<String>,
    /// Required with `permissions`: 1–120 characters after trimming.
    /// Ignored with `clientID`.
    identifier: Option<String>,
    /// Unix milliseconds, in the future. Where the service sets a longest
    /// lifetime (`tokens.max_lifetime_days`), a token without one gets that
    /// lifetime and a later one is refused.
    #[serde(rename = "expiresAt", default, deserialize_with = "integral")]
    #[schema(value_type = Option<i64>)]
    expires_at: Option<Timestamp>,
}

/// A JSON integer, written `5` or `5.0` (JSON Schema counts both as the
/// integer 5; serde alone refuses the second).
fn integral<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error as _;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(integer) = number.as_i64() {
        return Ok(Some(integer));
    }
    match number.as_f64() {
        // 2^63 as f64 is i64::MAX + 1: below it the cast is exact enough.
        Some(float)
            if float.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&float) =>
        {
            Ok(Some(float as i64))
        }
        _ => Err(D::Error::custom(
            "expiresAt must be an integer (Unix milliseconds)",
        )),
    }
}

impl TryFrom<CreateTokenBody> for CreateTokenRequest {
    type Error = ApiError;

    fn try_from(body: CreateTokenBody) -> Result<Self, ApiError> {
        let source = match (body.permissions, body.client_id) {
            (Some(permissions), None) => TokenSource::Permissions {
                identifier: body.identifier,
                permissions,
            },
            // An identifier sent along with clientID is ignored (contract §4).
            (None, Some(client)) => TokenSource::Client(client),
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "give either permissions or clientID, not both".to_owned(),
                ));
            }
            (None, None) => {
                return Err(ApiError::BadRequest(
                    "give either permissions (with identifier) or clientID".to_owned(),
                ));
            }
        };
        Ok(Self {
            source,
            expires_at: body.expires_at,
        })
    }
}
