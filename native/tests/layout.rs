//! The engine's module graph, read from the sources: no import cycle between modules,
//! and every import between stage folders runs downwards in the order the README's
//! layout table gives (error, image, math → crystal → io → findings → sim → nn →
//! analysis → report → eval → jni).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Stage folders (and top-level files) from the bottom up.
const LEVELS: [&[&str]; 10] = [
    &["error", "image", "math"],
    &["crystal"],
    &["io"],
    &["findings"],
    &["sim"],
    &["nn"],
    &["analysis"],
    &["report"],
    &["eval"],
    &["jni"],
];

fn level(top: &str) -> usize {
    LEVELS
        .iter()
        .position(|l| l.contains(&top))
        .unwrap_or_else(|| panic!("module '{top}' is in no level of the layout"))
}

/// Module path (`analysis::columns`) → source text, for every file under `src` but the
/// binaries and `lib.rs`.
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts[0] == "bin" || parts == ["lib"] {
            continue;
        }
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        out.insert(parts.join("::"), std::fs::read_to_string(&f).unwrap());
    }
    out
}

/// The code of a file without comments and without its unit tests (which may reach
/// anywhere in the crate).
fn code(text: &str) -> String {
    let body = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    body.lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b` path in `text` (with `super::` resolved against `parent`),
/// brace groups expanded one level deep.
fn paths(text: &str, parent: &str) -> Vec<String> {
    let prefix = if parent.is_empty() {
        "crate::".to_string()
    } else {
        format!("crate::{parent}::")
    };
    let text = text.replace("super::", &prefix);
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let head: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let head = head.trim_end_matches(':').to_string();
        let after = &rest[head.len()..];
        if let Some(group) = after.strip_prefix("::{") {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let item = item.trim().split("::").next().unwrap_or("").trim();
                if !item.is_empty() && item != "self" {
                    out.push(format!("{head}::{item}"));
                }
            }
        }
        out.push(head);
    }
    out
}

/// Module `path` resolves to: its longest prefix that is a module.
fn resolve<'a>(path: &str, names: &'a BTreeSet<String>) -> Option<&'a String> {
    let segs: Vec<&str> = path.split("::").collect();
    (1..=segs.len())
        .rev()
        .find_map(|k| names.get(&segs[..k].join("::")))
}

/// The sub-modules of `m` that its code names by a relative path (`child::item`).
fn child_uses(m: &str, code: &str, names: &BTreeSet<String>) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| {
            let child = n.strip_prefix(m)?.strip_prefix("::")?;
            let named = code.match_indices(&format!("{child}::")).any(|(i, _)| {
                let before = code[..i].chars().next_back();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            });
            (!child.contains("::") && named).then(|| n.clone())
        })
        .collect()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods = modules(&src);
    let names: BTreeSet<String> = mods.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (m, text) in &mods {
        let parent = m.rsplit_once("::").map_or("", |(p, _)| p);
        let code = code(text);
        let mut deps: BTreeSet<String> = paths(&code, parent)
            .iter()
            .filter_map(|p| resolve(p, &names))
            .filter(|d| *d != m && !m.starts_with(&format!("{d}::")))
            .cloned()
            .collect();
        // A parent reaches its own sub-modules by relative paths (`tiff::read_tiff`).
        deps.extend(child_uses(m, &code, &names));
        edges.insert(m.clone(), deps);
    }
    edges
}

#[test]
fn the_module_graph_has_no_cycle() {
    let edges = graph();
    assert!(edges.len() > 40, "found only {} modules", edges.len());
    // Depth-first search with colours: grey on the stack, black done.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        colour: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) {
        colour.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for d in &edges[m] {
            match colour.get(d).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == d).unwrap();
                    panic!("import cycle: {} → {d}", stack[at..].join(" → "));
                }
                0 => visit(d, edges, colour, stack),
                _ => {}
            }
        }
        stack.pop();
        colour.insert(m.to_string(), 2);
    }
    let mut colour = BTreeMap::new();
    for m in edges.keys() {
        if colour.get(m).copied().unwrap_or(0) == 0 {
            visit(m, &edges, &mut colour, &mut Vec::new());
        }
    }
}

#[test]
fn imports_between_stages_run_downwards() {
    let mut upwards = Vec::new();
    for (m, deps) in graph() {
        let top = m.split("::").next().unwrap();
        for d in deps {
            let dtop = d.split("::").next().unwrap();
            if dtop != top && level(dtop) >= level(top) {
                upwards.push(format!("{m} → {d}"));
            }
        }
    }
    assert!(
        upwards.is_empty(),
        "imports against the layout: {upwards:#?}"
    );
}

#[test]
fn the_checker_sees_imports() {
    let edges = graph();
    assert!(edges["analysis"].contains("nn::network"));
    assert!(edges["io"].contains("io::tiff"));
    assert!(edges["io::dm"].contains("io::frames"));
    assert!(edges["report::folder"].contains("analysis"));
}

/// The longest function the engine may have: past this a stage is doing several things.
const MAX_FUNCTION_LINES: usize = 150;

/// (file, function, lines) for every function in `src`, test modules included, measured
/// from its `fn` line to the closing brace at the same indentation (rustfmt's layout).
fn function_lengths() -> Vec<(String, String, usize)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    for (module, text) in modules(&src) {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            let decl = trimmed
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub(super) ")
                .trim_start_matches("const ")
                .trim_start_matches("unsafe ")
                .trim_start_matches("extern \"system\" ");
            let Some(rest) = decl.strip_prefix("fn ") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let close = format!("{}}}", " ".repeat(indent));
            if let Some(end) = lines[i..].iter().position(|l| *l == close) {
                out.push((module.clone(), name, end + 1));
            }
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_the_limit() {
    let all = function_lengths();
    assert!(all.len() > 500, "found only {} functions", all.len());
    let long: Vec<_> = all
        .iter()
        .filter(|(_, _, n)| *n > MAX_FUNCTION_LINES)
        .collect();
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines: {long:#?}"
    );
    let analyze = all
        .iter()
        .find(|(m, f, _)| m == "analysis" && f == "analyze")
        .expect("Analyzer::analyze");
    assert!(analyze.2 < 120, "Analyzer::analyze has {} lines", analyze.2);
}
