//! Keeps the layering written in the crate docs true: every `crate::<room>` path in a room's
//! files names a room on a lower layer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The rooms by layer, bottom first; the same table as in the crate docs.
const LAYERS: &[&[&str]] = &[
    &["shared"],
    &["config"],
    &["telemetry"],
    &["resource_server", "db", "store", "teams", "limits", "outbound"],
    &["plugins"],
    &["mcp"],
    &["oidc_proxy"],
    &["http"],
    &["app"],
    &["cli"],
];

fn layer_of(room: &str) -> Option<usize> {
    LAYERS.iter().position(|rooms| rooms.contains(&room))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source text without `//` comments (doc links may name any room); a `//` inside a string
/// literal (a URL) is kept.
fn code_of(text: &str) -> String {
    text.lines().map(strip_comment).collect::<Vec<_>>().join("\n")
}

fn strip_comment(line: &str) -> &str {
    let (mut in_string, mut escaped, mut previous) = (false, false, ' ');
    for (i, c) in line.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == '/' && previous == '/' {
            return &line[..i - 1];
        }
        previous = c;
    }
    line
}

/// Ways of naming a room that the path reader cannot follow: aliases of the crate root, glob
/// imports of it, and `super::` that climbs out of a room.
fn evasions(code: &str, room_root_file: bool) -> Vec<&'static str> {
    let mut found = Vec::new();
    let squeezed: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
    for (pattern, what) in [
        ("crate as ", "an alias of the crate root (`crate as …`)"),
        ("crate::*", "a glob import of the crate root"),
        ("crate::{self", "the crate root imported as a name"),
        ("extern crate self", "the crate imported under another name"),
        ("super::super::", "`super::super::` (name the room with `crate::` instead)"),
    ] {
        if squeezed.contains(pattern) {
            found.push(what);
        }
    }
    // In a room's own root file `super::` is the crate root; only test modules' `use super::*`
    // (the room itself) is fine there.
    if room_root_file && code.replace("use super::*;", "").contains("super::") {
        found.push("`super::` in a room's root file (name the room with `crate::` instead)");
    }
    found
}

/// The top-level rooms a file's `crate::` paths name, including inside `use crate::{a, b::c}`.
fn rooms_used(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at depth 0 of the brace group.
            let (mut depth, mut token) = (0usize, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        used.insert(head(&token));
                        token.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    token.push(c);
                }
            }
            used.insert(head(&token));
        } else {
            used.insert(head(rest));
        }
    }
    used.retain(|r| !r.is_empty() && r != "self");
    used
}

fn head(path: &str) -> String {
    path.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

#[test]
fn every_room_uses_only_rooms_on_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut rooms_seen = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let room = first.trim_end_matches(".rs").to_owned();
        if matches!(room.as_str(), "lib" | "main" | "layering") {
            continue;
        }
        let Some(own) = layer_of(&room) else {
            violations.push(format!("{}: room `{room}` is missing from LAYERS", rel.display()));
            continue;
        };
        rooms_seen.insert(room.clone());
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let room_root_file = rel.components().count() == 1 || rel.ends_with(format!("{room}/mod.rs"));
        for what in evasions(&code, room_root_file) {
            violations.push(format!("{}: {what}", rel.display()));
        }
        for used in rooms_used(&code) {
            if used == room {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                Some(layer) => violations.push(format!(
                    "{}: `{room}` (layer {own}) uses `crate::{used}` (layer {layer})",
                    rel.display()
                )),
                None => violations.push(format!("{}: uses unknown room `crate::{used}`", rel.display())),
            }
        }
    }
    assert!(violations.is_empty(), "dependencies must point down the layers:\n{}", violations.join("\n"));
    // The check read the real tree, not an empty one.
    assert!(rooms_seen.len() >= 10, "only found rooms {rooms_seen:?}");
}

#[test]
fn the_path_reader_finds_grouped_and_nested_uses() {
    let code = "use crate::{config::Config, shared::{Identity, DatabaseAccess}};\nlet x = crate::db::open();";
    let used: Vec<String> = rooms_used(code).into_iter().collect();
    assert_eq!(used, ["config", "db", "shared"]);
    assert!(rooms_used(&code_of("// crate::http is only named here")).is_empty());
    let in_url = code_of(r#"let u = format!("https://x/{}", crate::http::path());"#);
    assert_eq!(rooms_used(&in_url).into_iter().collect::<Vec<_>>(), ["http"]);
}

#[test]
fn aliases_globs_and_climbing_super_are_refused() {
    assert!(evasions("use crate as w;", false).len() == 1);
    assert!(evasions("use crate::*;", false).len() == 1);
    assert!(evasions("use super::super::http::x;", false).len() == 1);
    assert!(evasions("use super::http::x;", true).len() == 1);
    assert!(evasions("mod tests { use super::*; }", true).is_empty());
    assert!(evasions("use super::sibling::X;", false).is_empty());
}

/// The table in the crate docs and [`LAYERS`] say the same.
#[test]
fn the_crate_docs_table_matches_the_layers_checked_here() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let mut documented = 0;
    for line in lib.lines().filter_map(|l| l.strip_prefix("//! | ")) {
        let mut cells = line.split(" | ");
        let (Some(layer), Some(rooms)) = (cells.next(), cells.next()) else { continue };
        let Ok(layer) = layer.trim().parse::<usize>() else { continue };
        for room in rooms.split('`').skip(1).step_by(2) {
            assert_eq!(layer_of(room), Some(layer), "lib.rs puts `{room}` on layer {layer}");
            documented += 1;
        }
    }
    assert_eq!(documented, LAYERS.iter().map(|r| r.len()).sum::<usize>(), "every room is in the docs table");
}
