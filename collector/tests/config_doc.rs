//! The collector's config file as `docs/CONFIG.md` documents it: the example there
//! parses, and its keys reach the settings they name (a documented key that the parser
//! refused, or that did nothing, would fail here).

use std::time::Duration;

use pimon_collector::cli::Flags;
use pimon_collector::config::{ConfigFile, Settings};
use pimon_collector::source::SourceKind;

/// The ```text block under "## The collector's config file" in docs/CONFIG.md.
fn documented_example() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/CONFIG.md"))
        .expect("docs/CONFIG.md");
    let section = doc
        .split("\n## The collector's config file\n")
        .nth(1)
        .expect("docs/CONFIG.md has a section \"The collector's config file\"");
    let block = section
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the section holds a ```text example");
    block.to_string()
}

#[test]
fn the_documented_config_file_parses_and_every_key_takes_effect() {
    let text = documented_example();
    let file = ConfigFile::parse(&text).unwrap_or_else(|e| panic!("docs/CONFIG.md: {e}"));
    let settings = Settings::merge(&Flags::default(), file)
        .unwrap_or_else(|e| panic!("docs/CONFIG.md's example: {e}"));
    assert_eq!(settings.node, "pi-kitchen");
    assert_eq!(settings.interval, Duration::from_secs(10));
    assert_eq!(settings.ring_bytes, 1 << 20);
    let sources = &settings.sources.sources;
    assert!(!sources.contains(SourceKind::W1), "disable = w1 iio");
    assert!(!sources.contains(SourceKind::Iio), "disable = w1 iio");
    assert!(
        sources.contains(SourceKind::Interrupts),
        "enable = interrupts"
    );
    assert!(sources.contains(SourceKind::Stat));
    assert!(settings.key.is_some(), "the [key] section");
}
