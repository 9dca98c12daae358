//! `DELETE /api/v1/users/{userID}/api-token/{token}` (and `api-tokens/`).

use actix_web::{HttpRequest, HttpResponse, web};
use tessera_domain::secret::redact;

use crate::auth::{UserRef, require_self_key};
use crate::body::blocking;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

pub async fn delete_token(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let target = UserRef::from_path(&req)?;
    let user = require_self_key(&req, &state, target).await?;
    let token = req.match_info().get("token").unwrap_or_default().to_owned();
    let shown = redact(&token, state.tokens.format().prefix().len());
    let tokens = state.tokens.clone();
    blocking(move || tokens.delete(user, &token)).await??;
    crate::metrics::tokens_deleted(1);
    tracing::info!(user = user.get(), token = %shown, "token deleted");
    Ok(json_ok(&serde_json::json!({})))
}
