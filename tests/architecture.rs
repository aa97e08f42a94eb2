//! The layering fitness function (docs/architecture.md): reads `src/**/*.rs` and fails when a
//! module imports from a layer above its own, when two layers of the same rank import each
//! other, or when source files import each other in a circle. Test modules (after
//! `#[cfg(test)]`) are not counted: a test may reach for anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top to bottom. A module may import from layers below its own, never above, and
/// never from another module of its own layer.
const LAYERS: &[&[&str]] = &[
    &["commands"],
    &["options"],
    &["batch"],
    &["cli"],
    &["report", "compare"],
    &["render"],
    &["orchestrator", "follow"],
    &["measure", "scenario"],
    &["census", "workload"],
    &["result"],
    &["kernel", "protocol", "python", "output"],
    &["error"],
    &["units"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

type ModulePath = Vec<String>;

/// Every source file of the library, by module path (`src/report/charts/mod.rs` →
/// `report::charts`).
fn source_files() -> BTreeMap<ModulePath, PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(directory) = stack.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: ModulePath = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            files.insert(parts, path);
        }
    }
    files
}

/// The source without its test module and without comments (a doc link is not an import).
fn production_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let code = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    code.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paths named after `crate::`, with `super::` and `self::` resolved first, braces expanded
/// (`crate::result::{figures::X, Claim}` names `result::figures` and `result`).
fn imported_paths(code: &str, module: &ModulePath) -> Vec<ModulePath> {
    // `super::` is the parent of this file's module (a mod.rs file is its folder's module).
    let parent: ModulePath = module[..module.len().saturating_sub(1)].to_vec();
    let resolved = code
        .replace(
            "super::super::",
            &prefix(&parent[..parent.len().saturating_sub(1)]),
        )
        .replace("super::", &prefix(&parent))
        .replace("self::", &prefix(module));
    let mut paths = Vec::new();
    let mut rest = resolved.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        paths.extend(expand(rest));
    }
    paths
}

fn prefix(module: &[String]) -> String {
    let mut text = String::from("crate::");
    for part in module {
        text.push_str(part);
        text.push_str("::");
    }
    text
}

/// The module paths at the start of `text` (after `crate::`), expanding one brace group.
fn expand(text: &str) -> Vec<ModulePath> {
    let mut head: ModulePath = Vec::new();
    let mut chars = text;
    loop {
        let name: String = chars
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            if let Some(group) = chars.strip_prefix('{') {
                let end = matching_brace(group);
                return split_top_level(&group[..end])
                    .into_iter()
                    .flat_map(|item| {
                        let mut inner = expand(item.trim());
                        if inner.is_empty() {
                            inner.push(Vec::new());
                        }
                        inner.into_iter().map(|tail| {
                            let mut path = head.clone();
                            path.extend(tail);
                            path
                        })
                    })
                    .collect();
            }
            break;
        }
        chars = &chars[name.len()..];
        // Types and functions are not modules: stop at the first capital or at a call.
        let is_module = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && !chars.starts_with('(')
            && !chars.starts_with('!');
        if is_module {
            head.push(name);
        }
        match chars.strip_prefix("::") {
            Some(next) if is_module => chars = next,
            _ => break,
        }
    }
    vec![head]
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    text.len()
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items.into_iter().filter(|i| !i.trim().is_empty()).collect()
}

/// The file a module path lives in: its longest prefix that is a file.
fn owning_file(path: &ModulePath, files: &BTreeMap<ModulePath, PathBuf>) -> Option<ModulePath> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|candidate| files.contains_key(candidate))
}

/// File → the files it imports from.
fn import_graph() -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
    let files = source_files();
    let mut graph = BTreeMap::new();
    for (module, path) in &files {
        let mut targets = BTreeSet::new();
        for imported in imported_paths(&production_code(path), module) {
            if let Some(target) = owning_file(&imported, &files)
                && &target != module
                && !target.is_empty()
            {
                targets.insert(target);
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

#[test]
fn every_top_level_module_has_a_layer() {
    let missing: Vec<String> = source_files()
        .keys()
        .filter_map(|module| module.first())
        .filter(|top| rank(top).is_none())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a layer (add them to LAYERS and docs/architecture.md): {missing:?}"
    );
}

#[test]
fn no_module_imports_from_a_layer_above_or_beside_it() {
    let mut violations = Vec::new();
    for (module, targets) in import_graph() {
        let Some(from) = module.first() else { continue };
        for target in targets {
            let to = &target[0];
            if to == from {
                continue;
            }
            let (Some(from_rank), Some(to_rank)) = (rank(from), rank(to)) else {
                continue;
            };
            if to_rank <= from_rank {
                violations.push(format!("{} imports {}", module.join("/"), target.join("/")));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that run up or sideways through the layers:\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn no_source_files_import_each_other_in_a_circle() {
    let graph = import_graph();
    // Tarjan's strongly connected components.
    struct State<'a> {
        graph: &'a BTreeMap<ModulePath, BTreeSet<ModulePath>>,
        index: BTreeMap<&'a ModulePath, usize>,
        low: BTreeMap<&'a ModulePath, usize>,
        stack: Vec<&'a ModulePath>,
        on_stack: BTreeSet<&'a ModulePath>,
        next: usize,
        circles: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a ModulePath) {
        state.index.insert(node, state.next);
        state.low.insert(node, state.next);
        state.next += 1;
        state.stack.push(node);
        state.on_stack.insert(node);
        for target in state.graph.get(node).into_iter().flatten() {
            let Some((target, _)) = state.graph.get_key_value(target) else {
                continue;
            };
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[node].min(state.low[target]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.low[node].min(state.index[target]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(member.join("/"));
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.circles.push(component);
            }
        }
    }
    let mut state = State {
        graph: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        circles: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    assert!(
        state.circles.is_empty(),
        "source files that import each other in a circle: {:?}",
        state.circles
    );
}

#[test]
fn the_checker_sees_imports_through_braces_and_super() {
    let module: ModulePath = vec!["report".into(), "tables".into()];
    let code = "use super::charts::matrix::{MatrixValue, matrix_value};\n\
                use crate::result::{figures::FigureSource, Claim};\n\
                let x = crate::units::format_bytes(1);";
    let paths = imported_paths(code, &module);
    let text: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert!(
        text.contains(&"report::charts::matrix".to_string()),
        "{text:?}"
    );
    assert!(text.contains(&"result::figures".to_string()), "{text:?}");
    assert!(text.contains(&"result".to_string()), "{text:?}");
    assert!(text.contains(&"units".to_string()), "{text:?}");
    // And a real upward import would be caught.
    assert!(rank("kernel") > rank("commands"));
}
