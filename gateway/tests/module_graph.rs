//! The shape of the code, checked so it stays findable: no import cycles between the top-level
//! modules of the engine and of the portal, and no source file of the engine much over 500 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 520;

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The top-level module a file belongs to (`proxy` for `proxy/cache.rs`); `None` for the crate root.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()?
        .as_os_str()
        .to_str()?
        .to_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (name != "lib" && name != "main").then_some(name)
}

/// The code of a file without comments and without its unit tests (tests may reach anywhere).
fn code_of(text: &str) -> String {
    let text = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules a piece of code names as `crate::module` or `crate::{module, …}`.
fn modules_named(code: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for (index, _) in code.match_indices("crate::") {
        if index > 0 && code[..index].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `gateway_crate::` or the like
        }
        let rest = &code[index + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name = identifier_at(item.trim());
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    named.insert(name.to_owned());
                }
            }
        } else {
            let name = identifier_at(rest);
            if !name.is_empty() {
                named.insert(name.to_owned());
            }
        }
    }
    named
}

fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(src) {
        let Some(module) = top_module(src, &file) else {
            continue;
        };
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(modules_named(&code).into_iter().filter(|m| *m != module));
    }
    graph
}

/// The modules on some cycle, each listed with the cycle's other members it imports.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut pending = vec![from.to_owned()];
        while let Some(module) = pending.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                if next == to {
                    return true;
                }
                if seen.insert(next.clone()) {
                    pending.push(next.clone());
                }
            }
        }
        false
    };
    graph
        .iter()
        .filter(|(module, _)| reaches(module, module))
        .map(|(module, imports)| {
            let on_cycle: Vec<&str> = imports
                .iter()
                .filter(|import| reaches(import, module))
                .map(String::as_str)
                .collect();
            format!("{module} -> {}", on_cycle.join(", "))
        })
        .collect()
}

fn crate_src(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[test]
fn the_checker_finds_a_cycle_and_ignores_comments_and_tests() {
    let graph = BTreeMap::from([
        ("a".to_owned(), modules_named("use crate::{b, c::X};")),
        ("b".to_owned(), modules_named("fn f() { crate::a::g() }")),
        (
            "c".to_owned(),
            modules_named(&code_of(
                "//! see crate::a\nuse std::x;\n#[cfg(test)]\nmod tests { use crate::a; }",
            )),
        ),
    ]);
    assert_eq!(graph["a"], BTreeSet::from(["b".to_owned(), "c".to_owned()]));
    assert!(graph["c"].is_empty());
    assert_eq!(cycles(&graph), vec!["a -> b", "b -> a"]);
}

#[test]
fn the_engine_and_the_portal_have_no_import_cycles() {
    for src in ["src", "../app/src"] {
        let graph = module_graph(&crate_src(src));
        assert!(graph.len() > 5, "{src}: found only {graph:?}");
        let cycles = cycles(&graph);
        assert!(
            cycles.is_empty(),
            "import cycles in {src}:\n{}",
            cycles.join("\n")
        );
    }
}

#[test]
fn no_engine_source_file_is_much_over_500_lines() {
    let src = crate_src("src");
    let long: Vec<String> = rust_files(&src)
        .into_iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {}", long.join(", "));
}
