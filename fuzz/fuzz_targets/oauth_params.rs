//! The OAuth endpoints' form and JSON parameters: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tessera_http_adapter::fuzzing::oauth_params(data);
});
