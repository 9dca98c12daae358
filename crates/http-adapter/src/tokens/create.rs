//! `POST /api/v1/users/{userID}/api-tokens/create`.

use actix_web::{HttpRequest, HttpResponse, web};
use tessera_domain::CreateTokenRequest;

use crate::auth::{UserRef, require_self_key};
use crate::body::{blocking, read_json};
use crate::dto::{CreateTokenBody, TokenDocument};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

pub async fn create_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let target = UserRef::from_path(&req)?;
    let user = require_self_key(&req, &state, target).await?;
    let body: CreateTokenBody = read_json(&req, payload).await?;
    let request = CreateTokenRequest::try_from(body)?;
    let tokens = state.tokens.clone();
    let created = blocking(move || tokens.create(user, request)).await??;
    crate::metrics::token_created();
    tracing::info!(
        user = user.get(),
        token = %created.token.redacted(state.tokens.format().prefix().len()),
        "token created"
    );
    Ok(json_ok(&TokenDocument::from(created)))
}
