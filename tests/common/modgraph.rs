//! A small reader of Rust module imports, for the boundary tests: which modules each source file
//! refers to through `crate::`, `super::` and `self::` paths (in `use` trees and inline), with comments
//! and string literals ignored. Not a Rust parser: enough to keep layers and part boundaries honest.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside a crate, e.g. `["check", "transport", "tcp"]`.
pub type ModPath = Vec<String>;

/// One reference from a module to a path (already made absolute from the crate root).
#[derive(Debug, Clone)]
pub struct Reference {
    /// The referring file's module (inline `mod tests` included).
    pub from: ModPath,
    /// The absolute path referred to.
    pub to: ModPath,
    /// 1-based line of the reference.
    pub line: usize,
}

/// Every `.rs` file under `dir`, sorted.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// The module path of a source file relative to the crate's source root (`lib.rs` is the root).
pub fn module_of(relative: &Path) -> ModPath {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// `text` with comments, string, byte-string, raw-string and char literals replaced by spaces (line
/// breaks kept, so line numbers stay right).
pub fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && !b
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
            && {
                let mut j = i + if c == 'b' { 2 } else { 1 };
                while b.get(j) == Some(&'#') {
                    j += 1;
                }
                b.get(j) == Some(&'"')
            }
        {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while b[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &b[i..j.min(b.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\''
            && (next == Some('\\') || (next.is_some() && b.get(i + 2) == Some(&'\'')))
        {
            // A char literal ('a', '\n', '\u{..}'); a lifetime ('a) has no closing quote.
            let mut j = i + 1;
            if b[j] == '\\' {
                j += 2;
            } else {
                j += 1;
            }
            while j < b.len() && b[j] != '\'' {
                j += 1;
            }
            for _ in i..=j.min(b.len() - 1) {
                out.push(' ');
            }
            i = j + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Path,
    Punct(char),
}

fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// Expand a `use` tree (tokens after `use`, up to `;`) into the paths it names.
fn expand_use(toks: &[Tok]) -> Vec<Vec<String>> {
    fn tree(toks: &[Tok], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        loop {
            match toks.get(*i) {
                Some(Tok::Ident(name)) => {
                    path.push(name.clone());
                    *i += 1;
                    if toks.get(*i) == Some(&Tok::Path) {
                        *i += 1;
                        continue;
                    }
                    if let (Some(Tok::Ident(a)), Some(Tok::Ident(_))) =
                        (toks.get(*i), toks.get(*i + 1))
                    {
                        if a == "as" {
                            *i += 2;
                        }
                    }
                    out.push(path);
                    return;
                }
                Some(Tok::Punct('*')) => {
                    *i += 1;
                    out.push(path);
                    return;
                }
                Some(Tok::Punct('{')) => {
                    *i += 1;
                    loop {
                        match toks.get(*i) {
                            Some(Tok::Punct('}')) => {
                                *i += 1;
                                return;
                            }
                            Some(Tok::Punct(',')) => *i += 1,
                            None => return,
                            _ => tree(toks, i, &path, out),
                        }
                    }
                }
                _ => {
                    *i += 1;
                    out.push(path);
                    return;
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    tree(toks, &mut i, &[], &mut out);
    out
}

/// Make a written path absolute from the crate root, seen from module `at`. `None` for paths that do
/// not start at `crate`, `super` or `self` (external crates, local names).
fn absolute(at: &[String], written: &[String]) -> Option<ModPath> {
    let first = written.first()?;
    let (mut base, rest) = match first.as_str() {
        "crate" => (Vec::new(), &written[1..]),
        "self" => (at.to_vec(), &written[1..]),
        "super" => {
            let mut base = at.to_vec();
            let mut k = 0;
            while written.get(k).map(String::as_str) == Some("super") {
                base.pop();
                k += 1;
            }
            (base, &written[k..])
        }
        _ => return None,
    };
    base.extend(rest.iter().filter(|s| s.as_str() != "self").cloned());
    Some(base)
}

/// Every reference of one file whose module is `module`, read from its `text`.
pub fn references(module: &[String], text: &str) -> Vec<Reference> {
    let toks = tokens(&code_only(text));
    let mut out = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let here = |inline: &[(String, usize)]| {
        let mut m = module.to_vec();
        m.extend(inline.iter().map(|(n, _)| n.clone()));
        m
    };
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(k) if k == "mod" => {
                if let (Some((Tok::Ident(name), _)), Some((Tok::Punct('{'), _))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Tok::Ident(k) if k == "use" => {
                let line = toks[i].1;
                let start = i + 1;
                let mut j = start;
                while j < toks.len() && toks[j].0 != Tok::Punct(';') {
                    j += 1;
                }
                let tree: Vec<Tok> = toks[start..j].iter().map(|(t, _)| t.clone()).collect();
                let at = here(&inline);
                for written in expand_use(&tree) {
                    if let Some(to) = absolute(&at, &written) {
                        out.push(Reference {
                            from: at.clone(),
                            to,
                            line,
                        });
                    }
                }
                i = j + 1;
                continue;
            }
            Tok::Ident(k)
                if (k == "crate" || k == "super" || k == "self")
                    && toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Path) =>
            {
                let line = toks[i].1;
                let mut written = vec![k.clone()];
                let mut j = i + 1;
                while toks.get(j).map(|t| &t.0) == Some(&Tok::Path) {
                    match toks.get(j + 1) {
                        Some((Tok::Ident(n), _)) => {
                            written.push(n.clone());
                            j += 2;
                        }
                        _ => break,
                    }
                }
                let at = here(&inline);
                if let Some(to) = absolute(&at, &written) {
                    out.push(Reference { from: at, to, line });
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The longest module in `known` that `path` starts with.
pub fn resolve<'a>(known: &'a BTreeSet<ModPath>, path: &[String]) -> Option<&'a ModPath> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find_map(|p| known.get(&p))
}

/// The strongly connected components with more than one module (the import cycles), each sorted.
pub fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    // Reachability by depth-first search from each node: small graphs, clarity over speed.
    let reach = |from: &ModPath| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let nodes: BTreeSet<ModPath> = edges
        .iter()
        .flat_map(|(k, v)| std::iter::once(k.clone()).chain(v.iter().cloned()))
        .collect();
    let reachable: BTreeMap<ModPath, BTreeSet<ModPath>> =
        nodes.iter().map(|n| (n.clone(), reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(n) || !reachable[n].contains(n) {
            continue;
        }
        let component: Vec<ModPath> = nodes
            .iter()
            .filter(|m| reachable[n].contains(*m) && reachable[*m].contains(n))
            .cloned()
            .collect();
        done.extend(component.iter().cloned());
        if component.len() > 1 {
            out.push(component);
        }
    }
    out
}

/// `check::transport::tcp` as text.
pub fn show(path: &[String]) -> String {
    path.join("::")
}
