//! The layers of docs/ARCHITECTURE.md, held: every module of `src/` has a
//! layer, and imports only from its own layer or below, but for the one
//! exception the document names.

use std::collections::BTreeSet;
use std::path::Path;

/// From the top layer to the bottom.
const LAYERS: &[(&str, &[&str])] = &[
    ("binary and lifecycle", &["lib", "main", "lifecycle", "demo", "fuzz"]),
    (
        "listeners and operations",
        &["server", "idle", "admin", "reload", "scheduler"],
    ),
    ("the gate", &["gate", "admission"]),
    ("shared state", &["app", "secrets"]),
    ("what the gate uses", &["proxy", "page", "store", "persist", "failover"]),
    (
        "core",
        &[
            "config", "token", "cookie", "room", "path", "request", "metrics", "clock", "http", "body", "shutdown",
            "upstream", "access", "schedule", "tls", "lang",
        ],
    ),
];

/// Imports that point up, each explained in docs/ARCHITECTURE.md.
const UPWARD: &[(&str, &str)] = &[("room", "store")];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// The top-level modules a file's text names as `crate::a` or
/// `crate::{a, b::c}`, comments left out.
fn imports(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The group's top-level items, up to its closing brace.
            let (mut depth, mut item, mut items) = (0, String::new(), Vec::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ => item.push(c),
                }
            }
            items.push(item);
            for it in items {
                let name: String = it
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::App` and the like: re-exports at the crate root.
            if name.starts_with(|c: char| c.is_ascii_lowercase()) {
                found.insert(name);
            }
        }
    }
    found
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_import_points_down_but_the_one_named() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    assert!(all.len() > 20, "found the sources");
    let mut upward = Vec::new();
    for path in &all {
        let rel = path.strip_prefix(&src).expect("under src");
        let module = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a name")
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = layer(&module) else {
            panic!(
                "{} has no layer: add `{module}` to LAYERS here and to docs/ARCHITECTURE.md",
                rel.display()
            );
        };
        for target in imports(&std::fs::read_to_string(path).expect("read")) {
            if target == module {
                continue;
            }
            let Some(theirs) = layer(&target) else {
                panic!("{} imports `{target}`, which has no layer", rel.display());
            };
            if theirs < own {
                upward.push((module.clone(), target));
            }
        }
    }
    upward.sort();
    upward.dedup();
    let allowed: Vec<(String, String)> = UPWARD.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(upward, allowed, "imports that point up a layer");
}

#[test]
fn imports_are_read_in_both_spellings() {
    let text = "use crate::a::B;\nuse crate::{c, d::{E, F}, self};\n// use crate::g;\nlet x = crate::h::i();";
    let got: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(got, ["a", "c", "d", "h"]);
}
