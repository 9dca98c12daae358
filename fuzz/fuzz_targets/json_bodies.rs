//! Every JSON request body type through the handlers' checks and
//! conversions: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tessera_http_adapter::fuzzing::json_bodies(data);
});
