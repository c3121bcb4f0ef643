//! The one duration grammar and the one size grammar of both binaries' flags and config
//! files (`pimon_protocol::duration::parse_duration`, `pimon_protocol::size::parse_size`)
//! on any text.
//!
//! Properties beyond "no panic": an accepted duration re-rendered in milliseconds
//! (`{ms}ms`) parses to the same duration, and so does the text with white space around;
//! an accepted size re-rendered in bytes parses to the same size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_protocol::duration::parse_duration;
use pimon_protocol::size::parse_size;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = parse_duration(text) {
        let ms = d.as_millis();
        assert_eq!(parse_duration(&format!("{ms}ms")), Ok(d));
        assert_eq!(parse_duration(&format!(" {text}\t")), Ok(d));
    }
    if let Ok(n) = parse_size(text) {
        assert_eq!(parse_size(&format!("{n}")), Ok(n));
        assert_eq!(parse_size(&format!(" {text}\t")), Ok(n));
    }
});
