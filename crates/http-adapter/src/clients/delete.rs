//! `DELETE /api/v1/clients/{clientID}` (owner only): the client's tokens go
//! with it, in the same transaction.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::{UserRef, require_self_key};
use crate::body::blocking;
use crate::clients::client_id;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::json_ok;

pub async fn delete_client(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = require_self_key(&req, &state, UserRef::Me).await?;
    let id = client_id(&req);
    let oauth = state.oauth.clone();
    let shown = id.clone();
    blocking(move || oauth.clients().delete(user, &id)).await??;
    tracing::info!(user = user.get(), client = %shown, "client deleted");
    Ok(json_ok(&serde_json::json!({})))
}
