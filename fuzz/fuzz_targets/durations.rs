//! The one duration grammar of both binaries' flags and config files
//! (`pimon_protocol::duration::parse_duration`) on any text.
//!
//! Properties beyond "no panic": an accepted text re-rendered in milliseconds
//! (`{ms}ms`) parses to the same duration, and so does the text with white space around.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_protocol::duration::parse_duration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = parse_duration(text) {
        let ms = d.as_millis();
        assert_eq!(parse_duration(&format!("{ms}ms")), Ok(d));
        assert_eq!(parse_duration(&format!(" {text}\t")), Ok(d));
    }
});
