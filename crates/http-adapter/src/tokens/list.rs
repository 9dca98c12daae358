//! `GET /api/v1/users/{userID}/api-tokens`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::{UserRef, require_self_key};
use crate::body::blocking;
use crate::dto::TokenDocument;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

pub async fn list_tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let target = UserRef::from_path(&req)?;
    let user = require_self_key(&req, &state, target).await?;
    let tokens = state.tokens.clone();
    let listed = blocking(move || tokens.list(user)).await??;
    let documents: Vec<TokenDocument> = listed.into_iter().map(TokenDocument::from).collect();
    Ok(json_ok(&documents))
}
