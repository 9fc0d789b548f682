//! The README's configuration reference is checked against the real
//! configuration type: it must parse, and it must mention every key the
//! type accepts (taken from the type itself, via serde's list of expected
//! fields), so neither can drift from the other.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use vestibule::Config;

fn reference_block() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("<!-- config-reference:start -->").expect("start marker");
    let end = readme.find("<!-- config-reference:end -->").expect("end marker");
    let block = &readme[start..end];
    let body = block.split_once("```toml\n").unwrap().1;
    body.rsplit_once("```").unwrap().0.to_string()
}

/// Keys the real type accepts in `table`, read from serde's error for an
/// unknown key.
fn accepted_keys(table_header: &str) -> Vec<String> {
    let text = format!("{table_header}\nnot_a_key = 1\n");
    let err = match Config::parse(&text, Path::new("."), "probe") {
        Ok(_) => panic!("an unknown key was accepted in {table_header}"),
        Err(e) => e.to_string(),
    };
    // serde writes "expected `a`", "expected `a` or `b`" or "expected one of `a`, `b`, ...".
    let list = err
        .split("expected ")
        .nth(1)
        .unwrap_or_else(|| panic!("no field list in: {err}"));
    let list = list.split(" (hint").next().unwrap();
    list.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn the_reference_parses() {
    let block = reference_block();
    let cfg = Config::parse(&block, Path::new("."), "README").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.rooms.len(), 1);
}

#[test]
fn the_reference_mentions_every_key() {
    let block = reference_block();
    let written: Vec<String> = block
        .lines()
        .map(|l| l.trim_start().trim_start_matches('#').trim_start())
        .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_string()))
        .collect();
    for table in ["[server]", "[token]", "[store]", "[page]", "[[room]]"] {
        let keys = accepted_keys(table);
        assert!(keys.len() >= 2, "{table}: {keys:?}");
        for k in keys {
            assert!(written.contains(&k), "README's reference lacks {table} {k}");
        }
    }
}

#[test]
fn the_shipped_config_is_valid() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/vestibule.toml");
    Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
}
