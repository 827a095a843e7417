//! The crate's modules depend one way (`src/lib.rs` gives the order): no top-level module of
//! `src/` reaches, through `crate::` paths in its non-test code, a module that reaches it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `path` (or `path` itself), test files left out.
fn sources(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n != "tests") {
                sources(&p, out);
            }
        }
    } else if path.is_file()
        && path.extension().is_some_and(|e| e == "rs")
        && path.file_name().is_some_and(|n| n != "tests.rs")
    {
        out.push(path.to_path_buf());
    }
}

/// The top-level modules `text` names as `crate::<module>`, outside comments and the inline
/// test module (which closes a file, as clippy's `items_after_test_module` asks).
fn uses(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    let mut found = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for part in line.split("crate::").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&name) {
                found.insert(name);
            }
        }
    }
    found
}

/// A circle in `graph` through `from`, as the modules along it.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap();
        for next in &graph[last] {
            if next == from {
                let mut c = path.clone();
                c.push(next.clone());
                return Some(c);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push(p);
            }
        }
    }
    None
}

#[test]
fn modules_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|n| n != "lib" && n != "main")
        .collect();
    let mut graph = BTreeMap::new();
    for m in &modules {
        let mut files = Vec::new();
        sources(&src.join(m), &mut files);
        sources(&src.join(format!("{m}.rs")), &mut files);
        let mut deps = BTreeSet::new();
        for f in files {
            deps.extend(uses(&std::fs::read_to_string(&f).unwrap(), &modules));
        }
        deps.remove(m);
        graph.insert(m.clone(), deps);
    }
    assert!(
        graph["commands"].contains("report"),
        "the scan finds imports"
    );
    for m in &modules {
        if let Some(c) = circle(&graph, m) {
            panic!("modules depend in a circle: {}", c.join(" → "));
        }
    }
}

#[test]
fn a_circle_is_found() {
    let modules: BTreeSet<String> = ["a", "b"].map(String::from).into();
    assert_eq!(
        uses(
            "use crate::b::X;\n// crate::a\n#[cfg(test)]\nmod tests { use crate::a; }",
            &modules
        ),
        ["b".to_string()].into()
    );
    let graph = BTreeMap::from([
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["a".to_string()].into()),
    ]);
    assert_eq!(circle(&graph, "a").unwrap(), ["a", "b", "a"]);
}
