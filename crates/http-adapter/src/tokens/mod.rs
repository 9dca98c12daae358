//! The seed's token endpoints, one file per action.

pub mod create;
pub mod delete;
pub mod list;
pub mod rotate;
pub mod update;

/// The `{userID}` of the token endpoints' paths, as documented (the
/// handlers read it through `UserRef::from_path`).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// A positive integer in canonical form, or `me` for the session's user
    #[param(rename = "userID", pattern = "^(me|[1-9][0-9]*)$", example = "me")]
    #[allow(dead_code)]
    user_id: String,
}
