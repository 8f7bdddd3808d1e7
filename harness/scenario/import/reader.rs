//! Reading squid.conf text into directives: comments and line continuations removed, `include`
//! followed (globs in the last path component, nesting and totals bounded).

use std::path::{Path, PathBuf};

use super::squid::{ImportError, MAX_INCLUDE_DEPTH};

/// How many files one import may read in all.
pub(crate) const MAX_FILES: usize = 256;
/// How many lines one import may read in all.
pub(crate) const MAX_LINES: usize = 200_000;

/// One directive: its words and where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Directive {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) words: Vec<String>,
    pub(crate) base: PathBuf,
}

impl Directive {
    pub(crate) fn invalid(&self, message: impl Into<String>) -> ImportError {
        ImportError::Invalid {
            file: self.file.clone(),
            line: self.line,
            message: format!("{}: {}", self.words[0], message.into()),
        }
    }

    pub(crate) fn ignored(
        &self,
        directive: impl Into<String>,
        reason: impl Into<String>,
    ) -> super::squid::Ignored {
        super::squid::Ignored {
            file: self.file.clone(),
            line: self.line,
            directive: directive.into(),
            reason: reason.into(),
        }
    }
}

/// Reads files into directives, following `include`.
#[derive(Default)]
pub(crate) struct Reader {
    pub(crate) directives: Vec<Directive>,
    files: usize,
    lines: usize,
}

impl Reader {
    pub(crate) fn read(
        &mut self,
        text: &str,
        file: &str,
        base: &Path,
        depth: usize,
    ) -> Result<(), ImportError> {
        self.files += 1;
        let mut pending: Option<(usize, String)> = None;
        for (index, raw) in text.lines().enumerate() {
            self.lines += 1;
            if self.files > MAX_FILES || self.lines > MAX_LINES {
                return Err(ImportError::TooLarge {
                    file: file.to_owned(),
                    line: index + 1,
                });
            }
            let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
            let content = strip_comment(raw);
            if let Some(head) = content.strip_suffix('\\') {
                joined.push_str(head);
                joined.push(' ');
                pending = Some((start, joined));
                continue;
            }
            joined.push_str(content);
            let words: Vec<String> = joined.split_whitespace().map(str::to_owned).collect();
            if words.is_empty() {
                continue;
            }
            let directive = Directive {
                file: file.to_owned(),
                line: start,
                words,
                base: base.to_path_buf(),
            };
            if directive.words[0] == "include" {
                self.include(&directive, depth)?;
            } else {
                self.directives.push(directive);
            }
        }
        Ok(())
    }

    fn include(&mut self, directive: &Directive, depth: usize) -> Result<(), ImportError> {
        if depth + 1 >= MAX_INCLUDE_DEPTH {
            return Err(ImportError::IncludeDepth {
                file: directive.file.clone(),
                line: directive.line,
            });
        }
        if directive.words.len() < 2 {
            return Err(directive.invalid("a file name (or glob) expected"));
        }
        for pattern in &directive.words[1..] {
            for path in expand_glob(&directive.base.join(pattern)) {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|source| ImportError::Read {
                    file: format!("{name} (included at {}:{})", directive.file, directive.line),
                    source,
                })?;
                let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                self.read(&text, &name, &base, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// The text before a comment: `#` at the start of a word begins one.
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        if c == '#' && previous.is_whitespace() {
            return line[..at].trim_end();
        }
        previous = c;
    }
    line.trim_end()
}

/// The files a path matches: itself, or with `*` and `?` in its last component the matching files
/// of that folder in name order (none when the folder is missing, as in Squid).
fn expand_glob(path: &Path) -> Vec<PathBuf> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return vec![path.to_path_buf()];
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard(name, n)))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Shell-style `*` / `?` matching of one name.
pub(crate) fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    // Names are short; the recursion is bounded by their length.
    pattern.len() <= 255 && go(pattern.as_bytes(), name.as_bytes())
}
