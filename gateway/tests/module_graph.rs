//! The shape of the code, checked so it stays findable. Every source file is a module
//! (`proxy/cache.rs` is `proxy::cache`, `lib.rs` the crate root), and its imports are read from
//! `crate::a::b`, `super::…`, `self::…` and a parent naming its children (`cache::Lookup`):
//!
//! - **no import cycles** between the files of one folder, nor between the top-level modules,
//!   in the engine, the portal, the server, the shared types and the test kit;
//! - **nothing imports back up**: a file does not use items of its parent's own file (`super::X`
//!   where `X` lives in `mod.rs`) or of the crate root; a folder's `mod.rs` names the stage map and
//!   re-exports, the children name each other (what they share lives in a sibling file);
//! - **no source file much over 500 lines** ([`MAX_LINES`]): a longer one is split along its
//!   seams.
//!
//! Test modules (declared under `#[cfg(test)]`) may reach anywhere and are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 520;

/// The crates checked, relative to this one.
const CRATES: [&str; 5] = [
    "src",
    "../app/src",
    "../server/src",
    "../types/src",
    "../testkit/src",
];

/// Sea-orm's entities name each other's relations on both sides by design.
const CYCLES_ALLOWED_IN: [&str; 1] = ["src:entities"];

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

/// `proxy::cache` for `proxy/cache.rs` and for `proxy/cache/mod.rs`; "" for the crate root.
fn module_path(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_str().unwrap().to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    if parts.first().is_some_and(|p| p == "bin") {
        parts.clear(); // a binary's root
    }
    parts.join("::")
}

fn parent(module: &str) -> Option<String> {
    if module.is_empty() {
        return None;
    }
    Some(module.rsplit_once("::").map_or("", |(p, _)| p).to_owned())
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else {
        format!("{base}::{name}")
    }
}

/// The code of a file without comments and without its inline unit tests; inside an inline
/// module (`mod messages { use super::Mail; }`) `super` is the file itself, so it reads `self`.
fn code_of(text: &str) -> String {
    let text = without_inline_test_modules(text);
    let code = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::with_capacity(code.len());
    let mut rest = code.as_str();
    while let Some(at) = rest.find("mod ") {
        let after = &rest[at + 4..];
        let name = identifier(after);
        let opens = after[name.len()..].trim_start().starts_with('{');
        let boundary = at == 0 || rest[..at].ends_with(|c: char| c.is_whitespace());
        if name.is_empty() || !opens || !boundary {
            out.push_str(&rest[..at + 4]);
            rest = after;
            continue;
        }
        let open = at + 4 + after.find('{').unwrap();
        let close = matching_brace(rest, open);
        out.push_str(&rest[..open]);
        out.push_str(&rest[open..close].replace("super::", "self::"));
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

/// Where the `}` closing the `{` at `open` is (the end of `text` when it is not closed).
fn matching_brace(text: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// `text` without its inline modules declared under `#[cfg(test)]` (`mod tests { … }`, a test
/// helper module), brace-matched.
fn without_inline_test_modules(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        let name = identifier(item.strip_prefix("mod ").unwrap_or_default());
        let opens = !name.is_empty()
            && item["mod ".len() + name.len()..]
                .trim_start()
                .starts_with('{');
        if !opens {
            out.push_str(&rest[..at + "#[cfg(test)]".len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        let open = rest.len() - item.len() + item.find('{').unwrap();
        let close = matching_brace(rest, open);
        rest = rest.get(close + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// Files declared under `#[cfg(test)]` (`mod fuzz;`, `#[path = "x_tests.rs"] mod tests;`).
fn test_files(file: &Path, text: &str) -> Vec<PathBuf> {
    let dir = file.parent().unwrap();
    let stem = file.file_stem().unwrap().to_str().unwrap();
    let own_dir = if matches!(stem, "mod" | "lib" | "main") {
        dir.to_path_buf()
    } else {
        dir.join(stem)
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if *line != "#[cfg(test)]" {
            continue;
        }
        let mut path_attribute = None;
        for next in &lines[i + 1..] {
            if let Some(rest) = next.strip_prefix("#[path = \"") {
                path_attribute = rest.split('"').next().map(str::to_owned);
            } else if let Some(name) = next
                .strip_prefix("mod ")
                .or_else(|| next.strip_prefix("pub mod "))
                .and_then(|rest| rest.strip_suffix(';'))
            {
                match path_attribute {
                    Some(path) => found.push(dir.join(path)),
                    None => {
                        found.push(own_dir.join(format!("{name}.rs")));
                        found.push(own_dir.join(name).join("mod.rs"));
                    }
                }
                break;
            } else if !next.starts_with("#[") {
                break;
            }
        }
    }
    found
}

struct Crate {
    /// Module path → its code.
    modules: BTreeMap<String, String>,
    /// External crates the root re-exports (`pub use sea_orm;`): `crate::sea_orm::…` is not the
    /// root's own item.
    reexported_crates: BTreeSet<String>,
}

fn read_crate(src: &Path) -> Crate {
    let files = rust_files(src);
    let texts: Vec<(PathBuf, String)> = files
        .iter()
        .map(|f| (f.clone(), std::fs::read_to_string(f).unwrap()))
        .collect();
    let tests: BTreeSet<PathBuf> = texts
        .iter()
        .flat_map(|(file, text)| test_files(file, text))
        .collect();
    let mut modules = BTreeMap::new();
    let mut reexported_crates = BTreeSet::new();
    for (file, text) in &texts {
        if tests.contains(file) {
            continue;
        }
        let module = module_path(src, file);
        if module.is_empty() {
            for line in text.lines() {
                if let Some(name) = line
                    .trim()
                    .strip_prefix("pub use ")
                    .and_then(|r| r.strip_suffix(';'))
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    reexported_crates.insert(name.to_owned());
                }
            }
        }
        modules.insert(module, code_of(text));
    }
    Crate {
        modules,
        reexported_crates,
    }
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The paths a piece of code names after `prefix` (`crate::`, `super::`): each as its segments,
/// a `{…}` group giving one path per member.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (index, _) in code.match_indices(prefix) {
        if index > 0
            && code[..index].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            continue; // `gateway_crate::`, `super::super::` (read from the first)
        }
        let mut rest = &code[index + prefix.len()..];
        let mut segments = Vec::new();
        let mut ups = 0;
        while let Some(more) = rest.strip_prefix("super::") {
            ups += 1;
            rest = more;
        }
        loop {
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for member in group.split(',') {
                    let members: Vec<String> = member
                        .trim()
                        .split("::")
                        .map(|part| identifier(part.trim()).to_owned())
                        .take_while(|part| !part.is_empty())
                        .collect();
                    if !members.is_empty() {
                        let mut path = vec!["super".to_owned(); ups];
                        path.extend(segments.iter().cloned());
                        path.extend(members);
                        paths.push(path);
                    }
                }
                break;
            }
            let name = identifier(rest);
            if name.is_empty() {
                break;
            }
            segments.push(name.to_owned());
            rest = &rest[name.len()..];
            match rest.strip_prefix("::") {
                Some(more) => rest = more,
                None => break,
            }
        }
        if !segments.is_empty() || ups > 0 {
            let mut path = vec!["super".to_owned(); ups];
            path.extend(segments);
            paths.push(path);
        }
    }
    paths
}

/// The longest module that is a prefix of `base::segments`.
fn resolve(modules: &BTreeMap<String, String>, base: &str, segments: &[String]) -> String {
    let mut path = base.to_owned();
    let mut best = path.clone();
    for segment in segments {
        path = join(&path, segment);
        if modules.contains_key(&path) {
            best = path.clone();
        } else {
            break;
        }
    }
    best
}

/// Each module's imports (other modules of the crate).
fn import_graph(krate: &Crate) -> BTreeMap<String, BTreeSet<String>> {
    let modules = &krate.modules;
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in modules {
        let edges = graph.entry(module.clone()).or_default();
        for path in paths_after(code, "crate::") {
            if path
                .first()
                .is_some_and(|first| krate.reexported_crates.contains(first))
            {
                continue;
            }
            edges.insert(resolve(modules, "", &path));
        }
        for (prefix, start) in [
            ("super::", parent(module)),
            ("self::", Some(module.clone())),
        ] {
            for path in paths_after(code, prefix) {
                let mut base = start.clone();
                let mut rest = path.as_slice();
                while rest.first().is_some_and(|s| s == "super") {
                    base = base.and_then(|b| parent(&b));
                    rest = &rest[1..];
                }
                if let Some(base) = base {
                    edges.insert(resolve(modules, &base, rest));
                }
            }
        }
        // A parent naming a child by a relative path: `cache::CacheLookup`, `use attempts::…`.
        for child in modules.keys() {
            if parent(child).as_deref() != Some(module.as_str()) || child.is_empty() {
                continue;
            }
            let name = child.rsplit("::").next().unwrap();
            let named = code.match_indices(&format!("{name}::")).any(|(i, _)| {
                i == 0
                    || !code[..i]
                        .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            });
            if named {
                edges.insert(child.clone());
            }
        }
        edges.remove(module);
    }
    graph
}

fn is_ancestor(ancestor: &str, of: &str) -> bool {
    ancestor.is_empty() && !of.is_empty() || of.starts_with(&format!("{ancestor}::"))
}

/// Imports of a parent's (or the root's) own file, as `child -> ancestor`.
fn up_imports(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (module, imports) in graph {
        for import in imports {
            if is_ancestor(import, module) {
                found.push((module.clone(), import.clone()));
            }
        }
    }
    found
}

/// Import cycles between the files of one folder: every import is lifted to the two children of
/// the folder where the importer's and the imported's paths part.
fn sibling_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String, String)> {
    let mut by_folder: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, imports) in graph {
        for import in imports {
            if is_ancestor(import, module) || is_ancestor(module, import) {
                continue;
            }
            let a: Vec<&str> = module.split("::").collect();
            let b: Vec<&str> = import.split("::").collect();
            let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            by_folder
                .entry(a[..common].join("::"))
                .or_default()
                .entry(a[common].to_owned())
                .or_default()
                .insert(b[common].to_owned());
        }
    }
    let mut found = Vec::new();
    for (folder, edges) in &by_folder {
        let reaches = |from: &str, to: &str| {
            let mut seen = BTreeSet::new();
            let mut pending = vec![from.to_owned()];
            while let Some(node) = pending.pop() {
                for next in edges.get(&node).into_iter().flatten() {
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
        for (from, tos) in edges {
            for to in tos {
                if reaches(to, from) {
                    found.push((folder.clone(), from.clone(), to.clone()));
                }
            }
        }
    }
    found
}

fn crate_src(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn graph_of(sources: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
    let krate = Crate {
        modules: sources
            .iter()
            .map(|(m, code)| (m.to_string(), code_of(code)))
            .collect(),
        reexported_crates: BTreeSet::from(["sea_orm".to_owned()]),
    };
    import_graph(&krate)
}

#[test]
fn the_checker_reads_paths_inside_folders_and_ignores_comments_and_tests() {
    let graph = graph_of(&[
        ("", "pub mod a; pub mod b; pub fn helper() {}"),
        ("a", "mod x; mod y; use x::Thing; fn f() { crate::b::g() }"),
        ("a::x", "use super::y::Other; use crate::sea_orm::Entity;"),
        ("a::y", "use super::super::b; pub struct Other;"),
        (
            "b",
            "//! see crate::a\nuse crate::{a::x::Thing, helper};\n#[cfg(test)]\nmod fixtures {\n fn f() { crate::a::y::g() }\n}\nfn h() {}\n#[cfg(test)]\nmod tests {\nuse crate::a::y; }",
        ),
    ]);
    assert_eq!(graph["a"], BTreeSet::from(["a::x".into(), "b".into()]));
    assert_eq!(graph["a::x"], BTreeSet::from(["a::y".into()]));
    assert_eq!(graph["a::y"], BTreeSet::from(["b".into()]));
    assert_eq!(graph["b"], BTreeSet::from(["".into(), "a::x".into()]));
    // `b` uses an item of the crate root; `a`'s files and `b` import each other.
    assert_eq!(up_imports(&graph), vec![("b".into(), "".into())]);
    let cycles = sibling_cycles(&graph);
    assert!(
        cycles.contains(&("".into(), "a".into(), "b".into())),
        "{cycles:?}"
    );
    assert!(
        cycles.contains(&("".into(), "b".into(), "a".into())),
        "{cycles:?}"
    );
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    // A child reaching into its parent's own file.
    let up = graph_of(&[
        ("p", "mod c; use c::X; pub struct Y;"),
        ("p::c", "use super::Y;"),
    ]);
    assert_eq!(up_imports(&up), vec![("p::c".into(), "p".into())]);
}

#[test]
fn no_import_cycles_between_the_files_of_a_folder() {
    let mut found = Vec::new();
    for src in CRATES {
        let krate = read_crate(&crate_src(src));
        assert!(
            krate.modules.len() >= 3,
            "{src}: found only {:?}",
            krate.modules.keys()
        );
        for (folder, from, to) in sibling_cycles(&import_graph(&krate)) {
            if !CYCLES_ALLOWED_IN.contains(&format!("{src}:{folder}").as_str()) {
                found.push(format!("{src}: in {folder:?}, {from} -> {to}"));
            }
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn no_file_imports_back_up_into_its_parent_or_the_crate_root() {
    let mut found = Vec::new();
    for src in CRATES {
        let krate = read_crate(&crate_src(src));
        for (module, ancestor) in up_imports(&import_graph(&krate)) {
            found.push(format!(
                "{src}: {module} imports from {}",
                if ancestor.is_empty() {
                    "the crate root"
                } else {
                    &ancestor
                }
            ));
        }
    }
    assert!(found.is_empty(), "imports back up:\n{}", found.join("\n"));
}

#[test]
fn no_source_file_is_much_over_500_lines() {
    let mut found = Vec::new();
    for src in CRATES {
        for file in rust_files(&crate_src(src)) {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            if lines > MAX_LINES {
                let relative = file.strip_prefix(crate_src(src)).unwrap().display();
                found.push(format!("{src}/{relative} ({lines} lines)"));
            }
        }
    }
    assert!(found.is_empty(), "split these files:\n{}", found.join("\n"));
}
