//! A small XML tree (local names, attributes, text, byte offsets) built with quick-xml, for the readers.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::error::{malformed, ArtifactError};

/// One element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name (namespace prefix dropped).
    pub name: String,
    /// Attributes (local name, unescaped value).
    pub attrs: Vec<(String, String)>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// Concatenated text content, trimmed.
    pub text: String,
    /// Byte offset of the start tag.
    pub offset: usize,
}

impl Element {
    /// An attribute by name (case-insensitive, as .NET config files are lenient about case).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The first child with this name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
    /// Every descendant (depth first) with this name.
    pub fn descendants<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name.eq_ignore_ascii_case(name) {
                out.push(c);
            }
            c.descendants(name, out);
        }
    }
    /// Every descendant with this name, collected.
    pub fn find_all(&self, name: &str) -> Vec<&Element> {
        let mut v = Vec::new();
        self.descendants(name, &mut v);
        v
    }
}

/// How deeply elements may nest. The files read here nest a dozen levels; the tree is recursive (its
/// drop, its searches), so a hostile file nested 150 000 levels would overflow the stack.
pub const MAX_DEPTH: usize = 256;

fn local(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    s.rsplit(':').next().unwrap_or(&s).to_string()
}

/// Parse a document into its root element; errors name line and column. Elements nested deeper than
/// [`MAX_DEPTH`] are refused.
pub fn parse(text: &str) -> Result<Element, ArtifactError> {
    let body = text.trim_start_matches('\u{feff}');
    let shift = text.len() - body.len();
    let mut reader = Reader::from_str(body);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    // Bounded by the document length: every event consumes input.
    loop {
        let pos = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| {
            malformed(
                text,
                shift + reader.error_position() as usize,
                format!("XML error: {e}"),
            )
        })?;
        match ev {
            Event::Start(_) | Event::Empty(_) if root.is_some() && stack.is_empty() => {
                return Err(malformed(text, shift + pos, "a second root element"));
            }
            Event::Start(_) if stack.len() >= MAX_DEPTH => {
                return Err(malformed(
                    text,
                    shift + pos,
                    format!("elements nested deeper than {MAX_DEPTH} levels"),
                ));
            }
            Event::Start(e) => stack.push(element(text, shift + pos, &e)?),
            Event::Empty(e) => {
                let el = element(text, shift + pos, &e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(malformed(
                        text,
                        shift + pos,
                        "closing tag without an opening one",
                    ));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t
                        .unescape()
                        .map_err(|e| malformed(text, shift + pos, format!("bad text: {e}")))?;
                    top.text.push_str(s.trim());
                } else if !String::from_utf8_lossy(&t).trim().is_empty() {
                    return Err(malformed(
                        text,
                        shift + pos,
                        "text outside the root element",
                    ));
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(String::from_utf8_lossy(&t).trim());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(malformed(
            text,
            open.offset,
            format!("<{}> is never closed", open.name),
        ));
    }
    root.ok_or_else(|| malformed(text, 0, "no XML element found"))
}

fn element(
    text: &str,
    offset: usize,
    e: &quick_xml::events::BytesStart<'_>,
) -> Result<Element, ArtifactError> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| malformed(text, offset, format!("bad attribute: {err}")))?;
        let v = a
            .unescape_value()
            .map_err(|err| malformed(text, offset, format!("bad attribute value: {err}")))?;
        attrs.push((local(a.key.as_ref()), v.into_owned()));
    }
    Ok(Element {
        name: local(e.name().as_ref()),
        attrs,
        children: Vec::new(),
        text: String::new(),
        offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        "<a>".repeat(depth) + &"</a>".repeat(depth)
    }

    /// Issue 20, break 10: a file nested 150 000 levels overflowed the stack and aborted the process.
    #[test]
    fn deep_nesting_is_refused_with_the_place_and_the_limit() {
        let text = nested(150_000);
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "line 1, column {}: elements nested deeper than {MAX_DEPTH} levels",
                3 * MAX_DEPTH + 1
            )
        );
        // Up to the limit, the tree is built (and dropped) as before.
        let root = parse(&nested(MAX_DEPTH)).unwrap();
        assert_eq!(root.find_all("a").len(), MAX_DEPTH - 1);
        assert!(parse(&nested(MAX_DEPTH + 1)).is_err());
    }
}
