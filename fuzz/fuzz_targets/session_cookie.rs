//! Session cookies: verification of any value never panics and never
//! accepts what the configured secret did not sign.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_domain::SecretString;
use tessera_http_adapter::{SessionCodec, SessionSettings};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let codec = SessionCodec::new(&SessionSettings {
        cookie_name: "tessera_session".into(),
        secret: SecretString::new("a-fuzzing-secret-of-at-least-thirty-two-bytes"),
    })
    .expect("codec");
    assert!(
        codec.verify(text, 1_764_337_200_000).is_err(),
        "a value the fuzzer made up was accepted: {text:?}"
    );
});
