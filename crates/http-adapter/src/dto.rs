//! The JSON shapes of the API and their one-place
//! conversion to and from domain types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_domain::{ApiToken, PermissionSet, Timestamp};
use tessera_domain::{CreateTokenRequest, RotateRequest, TokenPatch, TokenSource};

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
    created_at: i64,
    /// `null`: never expires. An expired token stays listed until deleted.
    #[serde(rename = "expiresAt")]
    #[schema(value_type = Option<i64>, required = true)]
    expires_at: Option<i64>,
    #[serde(rename = "lastUsedAt")]
    #[schema(value_type = Option<i64>, required = true)]
    last_used_at: Option<i64>,
    /// The token's public name: a UUID, stable, revealing nothing of the
    /// token. Accepted wherever a path takes the token.
    #[schema(example = "01975e6c-8f3a-7b21-9c4e-5d2a1f0b3c47", format = Uuid)]
    id: String,
    /// A disabled token is refused everywhere until enabled again.
    disabled: bool,
    /// The networks (CIDR) the token may be used from; `null`: any address.
    #[serde(rename = "allowedIps")]
    #[schema(required = true, example = json!(["10.0.0.0/8", "192.0.2.7/32"]))]
    allowed_ips: Option<Vec<String>>,
    /// A canary token authenticates nothing; its use raises an alarm.
    canary: bool,
    /// The successor's `id` while this rotated token is in its overlap.
    #[serde(rename = "supersededBy")]
    #[schema(required = true, format = Uuid)]
    superseded_by: Option<String>,
    /// The resource server that last introspected the token, `"status"`
    /// for `/api/v1/status`, or `null`.
    #[serde(rename = "lastUsedBy")]
    #[schema(required = true)]
    last_used_by: Option<String>,
    /// Up to five distinct client addresses, most recent first.
    #[serde(rename = "lastUsedIps")]
    #[schema(example = json!(["192.0.2.7"]))]
    last_used_ips: Vec<String>,
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
            created_at: token.created_at.as_millis(),
            expires_at: token.expires_at.map(Timestamp::as_millis),
            last_used_at: token.last_used_at.map(Timestamp::as_millis),
            id: token.id.to_string(),
            disabled: token.disabled,
            allowed_ips: token.allowed_ips.map(|allowed| allowed.to_strings()),
            canary: token.canary,
            superseded_by: token.superseded_by.map(|id| id.to_string()),
            last_used_by: token.last_used_by,
            last_used_ips: token
                .last_used_ips
                .iter()
                .map(ToString::to_string)
                .collect(),
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
    expires_at: Option<i64>,
    /// `true` makes a canary token (only with `permissions`): it looks like
    /// any other, authenticates nothing, and every use of it is answered
    /// like an unknown token's and recorded as `token.canary_used`.
    canary: Option<bool>,
}

/// Body of `PATCH …/api-tokens/{id}`: the members to change; an absent
/// one stays as it is, `{}` changes nothing.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"disabled": true, "allowedIps": ["10.0.0.0/8"]}))]
pub struct PatchTokenBody {
    /// 1–120 characters after trimming.
    identifier: Option<String>,
    /// `true` refuses the token everywhere (within the revocation
    /// deadline); `false` restores it, same token string.
    disabled: Option<bool>,
    /// Unix milliseconds, in the future; may only move earlier, or be set
    /// where the token has none. `null` is accepted only where the token
    /// has no expiry (a document sent back unchanged).
    #[serde(rename = "expiresAt", default, deserialize_with = "present_integral")]
    #[schema(value_type = Option<i64>, required = false)]
    expires_at: Option<Option<i64>>,
    /// Up to 16 IPv4/IPv6 networks (CIDR) or bare addresses; `null`: any
    /// address again.
    #[serde(rename = "allowedIps", default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>, required = false)]
    allowed_ips: Option<Option<Vec<String>>>,
}

impl From<PatchTokenBody> for TokenPatch {
    fn from(body: PatchTokenBody) -> Self {
        Self {
            identifier: body.identifier,
            disabled: body.disabled,
            expires_at: body.expires_at.map(|at| at.map(Timestamp::from_millis)),
            allowed_ips: body.allowed_ips,
        }
    }
}

/// Body of both rotation endpoints.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"overlapSecs": 3600}))]
pub struct RotateBody {
    /// How long the old token keeps working, 0–604800 seconds (a week);
    /// default 0: it is deleted at once.
    #[serde(rename = "overlapSecs", default, deserialize_with = "integral")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 604_800)]
    overlap_secs: Option<i64>,
    /// The successor's expiry (Unix milliseconds, in the future); default:
    /// the old token's (or, under a lifetime policy, that lifetime).
    #[serde(rename = "expiresAt", default, deserialize_with = "integral")]
    #[schema(value_type = Option<i64>)]
    expires_at: Option<i64>,
}

impl From<RotateBody> for RotateRequest {
    fn from(body: RotateBody) -> Self {
        Self {
            overlap_secs: body.overlap_secs,
            expires_at: body.expires_at.map(Timestamp::from_millis),
        }
    }
}

/// Tells an absent member (`None`) from an explicit `null` (`Some(None)`).
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// [`integral`], telling an absent member from an explicit `null`.
fn present_integral<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<i64>>, D::Error> {
    integral(deserializer).map(Some)
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
            "expected an integer (times are Unix milliseconds)",
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
                canary: body.canary.unwrap_or(false),
            },
            (None, Some(_)) if body.canary == Some(true) => {
                return Err(ApiError::BadRequest(
                    "a canary token is made from permissions (with identifier), not from a client"
                        .to_owned(),
                ));
            }
            // An identifier sent along with clientID is ignored.
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
            expires_at: body.expires_at.map(Timestamp::from_millis),
        })
    }
}
