//! Key files: the aggregator's (`node key_id secret` lines, `KeyRing::parse`) and the
//! collector's (`KEY_ID SECRET`, `parse_key_file`, and `[key] secret = …` values via
//! `decode_secret`), on any text.
//!
//! Properties beyond "no panic":
//! - every line the aggregator accepted is in the ring: its node is listed with that
//!   key id (or the `*` default has it);
//! - errors name a line of the file;
//! - the two crates read a secret the same way: a word the collector decodes to 1..=32
//!   bytes is a key the aggregator accepts with the same MAC, and a word the collector
//!   refuses is refused by the aggregator too;
//! - secret encodings round trip: any 1..=32 bytes written as `hex:`, `base64:` (with
//!   the aggregator's own base64 encoder), bare hex and bare base64 decode to a key
//!   with the same MAC in both crates.
#![no_main]

use std::collections::{HashMap, HashSet};

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::http_client::base64_encode;
use pimon_aggregator::keys::KeyRing;
use pimon_collector::config::{decode_secret, parse_key_file};
use pimon_protocol::Key;
use pimon_protocol::auth::MAX_KEY_LEN;

const MESSAGE: &[u8] = b"pimon fuzz message";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let line_count = text.lines().count();
    match KeyRing::parse(&text) {
        Ok(ring) => check_ring(&text, &ring),
        Err(e) => assert!((1..=line_count).contains(&e.line), "{e}"),
    }
    match parse_key_file(&text) {
        Ok(_) => {}
        Err(e) => assert!(e.line <= line_count, "{e}"),
    }
    for word in text.split(|c: char| c.is_whitespace() || c == '#').take(16) {
        if !word.is_empty() {
            same_secret_in_both(word);
        }
    }
    let secret = &data[..data.len().min(MAX_KEY_LEN)];
    if !secret.is_empty() {
        encodings_round_trip(secret, data.len() as u8);
    }
});

/// Every accepted line is in the ring.
fn check_ring(text: &str, ring: &KeyRing) {
    let mut ids: HashMap<&str, HashSet<u8>> = HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('#').next().unwrap().split_whitespace().collect();
        if let [node, id, _secret] = fields[..] {
            ids.entry(node)
                .or_default()
                .insert(id.parse().expect("accepted key id"));
        } else {
            assert!(fields.is_empty(), "accepted line {line:?}");
        }
    }
    let named = ids.keys().filter(|&&n| n != "*").count();
    assert_eq!(ring.node_count(), named);
    for (node, want) in &ids {
        if *node != "*" {
            assert!(ring.is_listed(node));
        }
        let got: HashSet<u8> = ring
            .keys_for(node)
            .expect("a node with lines has keys")
            .iter()
            .map(Key::id)
            .collect();
        assert_eq!(&got, want, "keys of {node}");
    }
}

fn mac(key: &Key) -> Vec<u8> {
    key.compute(MESSAGE).as_ref().to_vec()
}

/// The collector's `decode_secret` and the aggregator's key file agree on `word`.
fn same_secret_in_both(word: &str) {
    let collector = decode_secret(word)
        .ok()
        .and_then(|bytes| Key::new(3, &bytes));
    let aggregator = KeyRing::parse(&format!("n 3 {word}\n"));
    match (&collector, &aggregator) {
        (Some(c), Ok(ring)) => {
            let a = &ring.keys_for("n").unwrap()[0];
            assert_eq!(mac(a), mac(c), "{word:?} decodes differently");
        }
        (None, Err(_)) => {}
        _ => panic!(
            "{word:?}: collector {:?}, aggregator {:?}",
            collector.is_some(),
            aggregator.is_ok()
        ),
    }
    let file = parse_key_file(&format!("3 {word}\n"));
    assert_eq!(file.is_ok(), collector.is_some(), "{word:?}");
}

/// `secret` written in every accepted form decodes back to the same key.
fn encodings_round_trip(secret: &[u8], id: u8) {
    let want = mac(&Key::new(id, secret).unwrap());
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let base64 = base64_encode(secret);
    let mut forms = vec![
        format!("hex:{hex}"),
        format!("hex:{}", hex.to_uppercase()),
        format!("base64:{base64}"),
        format!("base64:{}", base64.trim_end_matches('=')),
        hex.clone(),
    ];
    // Bare text is hex when it looks like hex, so only base64 that does not.
    if !(base64.len().is_multiple_of(2) && base64.bytes().all(|b| b.is_ascii_hexdigit())) {
        forms.push(base64.clone());
    }
    for form in forms {
        let ring = KeyRing::parse(&format!("pi {id} {form}  # comment\n"))
            .unwrap_or_else(|e| panic!("{form:?}: {e}"));
        let keys = ring.keys_for("pi").unwrap();
        assert_eq!((keys.len(), keys[0].id()), (1, id));
        assert_eq!(mac(&keys[0]), want, "aggregator, {form:?}");
        let key = parse_key_file(&format!("# key\n{id} {form}\n"))
            .unwrap_or_else(|e| panic!("{form:?}: {e}"));
        assert_eq!(
            (key.id(), mac(&key)),
            (id, want.clone()),
            "collector, {form:?}"
        );
    }
}
