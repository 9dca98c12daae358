//! Entry points for `cargo fuzz` (the `fuzzing` feature): every request
//! body type through the same checks and conversions the handlers run, and
//! the OAuth parameter parser. Each must refuse bad input with an error and
//! never panic, whatever the bytes.

use tessera_domain::CreateTokenRequest;

use crate::body::body_from_value;
use crate::clients::create::CreateClientBody;
use crate::clients::update::PatchClientBody;
use crate::dto::CreateTokenBody;
use crate::oauth::create_code::CreateCodeBody;
use crate::status::StatusBody;

/// Every JSON body type from the same bytes.
pub fn json_bodies(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok((body, _)) = body_from_value::<CreateTokenBody>(value.clone()) {
        let _ = CreateTokenRequest::try_from(body);
    }
    let _ = body_from_value::<CreateClientBody>(value.clone());
    let _ = body_from_value::<PatchClientBody>(value.clone());
    let _ = body_from_value::<CreateCodeBody>(value.clone());
    let _ = body_from_value::<StatusBody>(value);
}

/// The OAuth endpoints' parameters, as a form and as JSON.
pub fn oauth_params(data: &[u8]) {
    for form in [true, false] {
        if let Ok(params) = crate::client_auth::parse_params(data, form) {
            let _ = crate::client_auth::reject_control(&params, &["token"]);
        }
    }
}
