//! A small namespace-aware XML tree for the documents the sandbox receives (invoices, RASP
//! messages, e-Transport declarations, signatures). Checking business rules on a tree is far
//! simpler than on a stream, so the tree is kept compact instead: a 10 MB body of tiny
//! elements must cost a small multiple of its size, not fifty times it. Every element is 12
//! bytes in one vector (document order, each element knowing where its subtree ends); names
//! are interned once; text and attribute values live in one string; elements with neither
//! text nor attributes have no other record.
//!
//! Parse failures are reported the way ANAF's Java parser (Xerces) words them, with line and
//! column, because that text ends up in ANAF's `Fisierul transmis nu este valid...` answers.

use std::collections::HashMap;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// "None" in the compact tables.
const NONE: u32 = u32::MAX;

/// How deep elements may nest.
pub const MAX_DEPTH: usize = 256;
/// How many distinct (namespace, name) pairs a document may use for its elements, and how
/// many distinct attribute names. UBL uses a few hundred; the bound keeps the name tables
/// small whatever a document invents.
pub const MAX_NAMES: usize = 10_000;
/// How many distinct namespaces a document may declare.
pub const MAX_NAMESPACES: usize = 1_000;

#[derive(Clone, Copy, Debug)]
struct Node {
    /// Index into `Document::names`.
    name: u32,
    /// One past the last element of this element's subtree.
    end: u32,
    /// Index into `Document::extras`, or `NONE` for an element without text or attributes.
    extra: u32,
}

#[derive(Clone, Copy, Debug)]
struct Extra {
    text_start: u32,
    text_len: u32,
    attr_start: u32,
    attr_len: u32,
}

#[derive(Clone, Copy, Debug)]
struct Attr {
    /// Index into `Document::attr_names`.
    name: u32,
    start: u32,
    len: u32,
}

#[derive(Debug)]
struct Name {
    namespace: u32,
    local: Box<str>,
}

/// A parsed document. [`Document::root`] gives the root element.
#[derive(Debug, Default)]
pub struct Document {
    nodes: Vec<Node>,
    extras: Vec<Extra>,
    attrs: Vec<Attr>,
    /// Text and attribute values, back to back.
    strings: String,
    names: Vec<Name>,
    attr_names: Vec<Box<str>>,
    namespaces: Vec<Box<str>>,
}

impl Document {
    pub fn root(&self) -> Element<'_> {
        Element { doc: self, index: 0 }
    }

    fn slice(&self, start: u32, len: u32) -> &str {
        &self.strings[start as usize..(start + len) as usize]
    }
}

/// An element of a [`Document`]: a cheap handle to copy around.
#[derive(Clone, Copy)]
pub struct Element<'a> {
    doc: &'a Document,
    index: u32,
}

impl std::fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Element")
            .field("namespace", &self.namespace())
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl<'a> Element<'a> {
    fn node(&self) -> Node {
        self.doc.nodes[self.index as usize]
    }

    fn extra(&self) -> Option<Extra> {
        let extra = self.node().extra;
        (extra != NONE).then(|| self.doc.extras[extra as usize])
    }

    /// The local name (without prefix).
    pub fn name(&self) -> &'a str {
        &self.doc.names[self.node().name as usize].local
    }

    pub fn namespace(&self) -> Option<&'a str> {
        let ns = self.doc.names[self.node().name as usize].namespace;
        (ns != NONE).then(|| &*self.doc.namespaces[ns as usize])
    }

    /// An attribute's value by local name.
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        let extra = self.extra()?;
        let doc = self.doc;
        doc.attrs[extra.attr_start as usize..(extra.attr_start + extra.attr_len) as usize]
            .iter()
            .find(|a| &*doc.attr_names[a.name as usize] == name)
            .map(|a| doc.slice(a.start, a.len))
    }

    /// Concatenated character data directly inside this element; empty when that is only
    /// whitespace.
    pub fn text(&self) -> &'a str {
        self.extra()
            .map(|e| self.doc.slice(e.text_start, e.text_len))
            .unwrap_or_default()
    }

    pub fn children(&self) -> impl Iterator<Item = Element<'a>> + 'a {
        let doc = self.doc;
        let end = self.node().end;
        let mut next = self.index + 1;
        std::iter::from_fn(move || {
            (next < end).then(|| {
                let child = Element { doc, index: next };
                next = doc.nodes[next as usize].end;
                child
            })
        })
    }

    pub fn child(&self, name: &str) -> Option<Element<'a>> {
        self.children().find(|c| c.name() == name)
    }

    pub fn children_named<'n>(&self, name: &'n str) -> impl Iterator<Item = Element<'a>> + 'n
    where
        'a: 'n,
    {
        self.children().filter(move |c| c.name() == name)
    }

    /// Follows a path of local names from this element.
    pub fn at(&self, path: &[&str]) -> Option<Element<'a>> {
        path.iter().try_fold(*self, |el, name| el.child(name))
    }

    /// Trimmed, non-empty text at a path.
    pub fn text_at(&self, path: &[&str]) -> Option<&'a str> {
        self.at(path).map(|e| e.text().trim()).filter(|t| !t.is_empty())
    }

    pub fn has_element_children(&self) -> bool {
        self.node().end > self.index + 1
    }
}

/// A parse failure positioned like Xerces reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl XmlError {
    /// The `org.xml.sax.SAXParseException; ...` text ANAF appends to its answer.
    pub fn sax_text(&self) -> String {
        format!(
            "org.xml.sax.SAXParseException; lineNumber: {}; columnNumber: {}; {}",
            self.line, self.column, self.message
        )
    }
}

fn position(input: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(input.len());
    let before = &input[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let line_bytes = &before[line_start..];
    // Count characters without copying the line (it may be megabytes long).
    let column = match std::str::from_utf8(line_bytes) {
        Ok(text) => text.chars().count(),
        Err(_) => line_bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count(),
    } + 1;
    (line, column)
}

/// An element whose start tag was read and whose end tag was not yet.
struct Open {
    node: u32,
    text: String,
    attr_start: u32,
    attr_len: u32,
}

/// Builds the compact tables while the reader walks the document.
#[derive(Default)]
struct Builder {
    doc: Document,
    name_ids: Vec<HashMap<Box<str>, u32>>,
    attr_name_ids: HashMap<Box<str>, u32>,
    namespace_ids: HashMap<Box<str>, u32>,
}

impl Builder {
    fn namespace(&mut self, namespace: Option<&str>) -> Result<u32, String> {
        let Some(namespace) = namespace else { return Ok(NONE) };
        if let Some(&id) = self.namespace_ids.get(namespace) {
            return Ok(id);
        }
        if self.doc.namespaces.len() >= MAX_NAMESPACES {
            return Err(format!("The document declares more than {MAX_NAMESPACES} namespaces."));
        }
        let id = self.doc.namespaces.len() as u32;
        self.doc.namespaces.push(namespace.into());
        self.namespace_ids.insert(namespace.into(), id);
        self.name_ids.push(HashMap::new());
        Ok(id)
    }

    fn name(&mut self, namespace: Option<&str>, local: &str) -> Result<u32, String> {
        let ns = self.namespace(namespace)?;
        let slot = if ns == NONE { 0 } else { ns as usize + 1 };
        if self.name_ids.is_empty() {
            self.name_ids.push(HashMap::new());
        }
        while self.name_ids.len() <= slot {
            self.name_ids.push(HashMap::new());
        }
        if let Some(&id) = self.name_ids[slot].get(local) {
            return Ok(id);
        }
        if self.doc.names.len() >= MAX_NAMES {
            return Err(format!(
                "The document uses more than {MAX_NAMES} distinct element names."
            ));
        }
        let id = self.doc.names.len() as u32;
        self.doc.names.push(Name {
            namespace: ns,
            local: local.into(),
        });
        self.name_ids[slot].insert(local.into(), id);
        Ok(id)
    }

    fn attr_name(&mut self, local: &str) -> Result<u32, String> {
        if let Some(&id) = self.attr_name_ids.get(local) {
            return Ok(id);
        }
        if self.doc.attr_names.len() >= MAX_NAMES {
            return Err(format!(
                "The document uses more than {MAX_NAMES} distinct attribute names."
            ));
        }
        let id = self.doc.attr_names.len() as u32;
        self.doc.attr_names.push(local.into());
        self.attr_name_ids.insert(local.into(), id);
        Ok(id)
    }

    fn push_string(&mut self, value: &str) -> (u32, u32) {
        let start = self.doc.strings.len() as u32;
        self.doc.strings.push_str(value);
        (start, value.len() as u32)
    }

    /// Records the element's subtree end, its text and attributes.
    fn close(&mut self, open: Open) {
        let end = self.doc.nodes.len() as u32;
        let has_text = !open.text.trim().is_empty();
        let node = &mut self.doc.nodes[open.node as usize];
        node.end = end;
        if has_text || open.attr_len > 0 {
            let (text_start, text_len) = if has_text { self.push_string(&open.text) } else { (0, 0) };
            self.doc.nodes[open.node as usize].extra = self.doc.extras.len() as u32;
            self.doc.extras.push(Extra {
                text_start,
                text_len,
                attr_start: open.attr_start,
                attr_len: open.attr_len,
            });
        }
    }
}

pub fn parse(input: &[u8]) -> Result<Document, XmlError> {
    let fail = |offset: usize, message: String| {
        let (line, column) = position(input, offset);
        XmlError { line, column, message }
    };
    let text = match std::str::from_utf8(input) {
        Ok(t) => t,
        Err(e) => return Err(fail(e.valid_up_to(), "Invalid byte 1 of 1-byte UTF-8 sequence.".into())),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let bom = input.len() - text.len();
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;

    let mut builder = Builder::default();
    // Every element starts with `<` and a name character: counting those bounds the number of
    // elements, so the element vector is allocated once instead of doubling past the need.
    let start_tags = text
        .as_bytes()
        .windows(2)
        .filter(|w| w[0] == b'<' && !matches!(w[1], b'/' | b'!' | b'?'))
        .count();
    builder.doc.nodes.reserve_exact(start_tags);
    let mut stack: Vec<Open> = Vec::new();
    let mut root_done = false;
    loop {
        let at = reader.buffer_position() as usize + bom;
        let event = reader.read_resolved_event();
        let (resolved, event) = match event {
            Ok(ok) => ok,
            Err(e) => {
                let offset = reader.error_position() as usize + bom;
                return Err(fail(offset, xerces_message(&e, !stack.is_empty())));
            }
        };
        let is_empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                if root_done {
                    return Err(fail(
                        at,
                        "The markup in the document following the root element must be well-formed.".into(),
                    ));
                }
                let qname = start.name();
                let namespace = match resolved {
                    ResolveResult::Bound(ns) => Some(ns.as_ref().to_owned()),
                    ResolveResult::Unbound => None,
                    ResolveResult::Unknown(prefix) => {
                        let qname = qname.as_ref();
                        return Err(fail(
                            at,
                            format!("The prefix \"{prefix}\" for element \"{qname}\" is not bound."),
                        ));
                    }
                };
                let local = start.local_name();
                let name = builder
                    .name(namespace.as_deref(), local.as_ref())
                    .map_err(|m| fail(at, m))?;
                let index = builder.doc.nodes.len() as u32;
                builder.doc.nodes.push(Node {
                    name,
                    end: NONE,
                    extra: NONE,
                });
                let attr_start = builder.doc.attrs.len() as u32;
                for attr in start.attributes().with_checks(true) {
                    let qname_text = || start.name().as_ref().to_owned();
                    let attr =
                        attr.map_err(|e| fail(at, format!("Attribute error in element \"{}\": {e}.", qname_text())))?;
                    let key = attr.key.as_ref();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        continue;
                    }
                    let local = key.rsplit(':').next().unwrap_or(key);
                    let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|_| {
                        fail(
                            at,
                            format!(
                                "The reference in attribute \"{key}\" of element \"{}\" is not valid.",
                                qname_text()
                            ),
                        )
                    })?;
                    let name = builder.attr_name(local).map_err(|m| fail(at, m))?;
                    let (start, len) = builder.push_string(&value);
                    builder.doc.attrs.push(Attr { name, start, len });
                }
                let open = Open {
                    node: index,
                    text: String::new(),
                    attr_start,
                    attr_len: builder.doc.attrs.len() as u32 - attr_start,
                };
                if is_empty {
                    builder.close(open);
                    root_done |= stack.is_empty();
                } else if stack.len() >= MAX_DEPTH {
                    // Far beyond any invoice (UBL nests about 10 deep); a deeper document would
                    // only serve to exhaust the stack.
                    return Err(fail(
                        at,
                        format!("The element nesting is deeper than {MAX_DEPTH} levels."),
                    ));
                } else {
                    stack.push(open);
                }
            }
            Event::End(_) => {
                let open = stack.pop().expect("the reader checks end tags");
                builder.close(open);
                root_done |= stack.is_empty();
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                append_text(&mut stack, &content, || fail(at, outside_root_message(root_done)))?;
            }
            Event::CData(c) => {
                let content = c.xml10_content();
                append_text(&mut stack, &content, || fail(at, outside_root_message(root_done)))?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch.to_string(),
                    Ok(None) => match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => s.to_owned(),
                        None => {
                            return Err(fail(
                                at,
                                format!("The entity \"{}\" was referenced, but not declared.", &*r),
                            ));
                        }
                    },
                    Err(_) => {
                        return Err(fail(
                            at,
                            format!("Character reference \"&{};\" is an invalid XML character.", &*r),
                        ));
                    }
                };
                append_text(&mut stack, &resolved, || fail(at, outside_root_message(root_done)))?;
            }
            Event::DocType(_) => {
                // Entity declarations would let a body expand without bound; ANAF's parsers
                // refuse DOCTYPE too.
                return Err(fail(at, "DOCTYPE is disallowed when the feature \"http://apache.org/xml/features/disallow-doctype-decl\" set to true.".into()));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                return match (root_done, stack.is_empty()) {
                    (true, true) => {
                        let mut doc = builder.doc;
                        doc.strings.shrink_to_fit();
                        Ok(doc)
                    }
                    (false, true) => Err(fail(at, "Premature end of file.".into())),
                    (_, false) => Err(fail(
                        at,
                        "XML document structures must start and end within the same entity.".into(),
                    )),
                };
            }
        }
    }
}

fn append_text(stack: &mut [Open], content: &str, outside: impl FnOnce() -> XmlError) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            parent.text.push_str(content);
            Ok(())
        }
        None if content.trim().is_empty() => Ok(()),
        None => Err(outside()),
    }
}

fn outside_root_message(root_done: bool) -> String {
    if root_done {
        "Content is not allowed in trailing section.".into()
    } else {
        "Content is not allowed in prolog.".into()
    }
}

fn xerces_message(error: &quick_xml::Error, inside_root: bool) -> String {
    use quick_xml::errors::{Error, IllFormedError};
    match error {
        Error::IllFormed(IllFormedError::MismatchedEndTag { expected, .. }) => {
            format!("The element type \"{expected}\" must be terminated by the matching end-tag \"</{expected}>\".")
        }
        Error::IllFormed(IllFormedError::UnmatchedEndTag(name)) => {
            format!("The end-tag for element type \"{name}\" must end with a '>' delimiter.")
        }
        Error::Syntax(_) if inside_root => "XML document structures must start and end within the same entity.".into(),
        other => format!("The markup in the document is not well-formed ({other})."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_attributes_and_entities() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cbc="urn:cbc">
  <cbc:ID schemeID="x">F &amp; 1&#x41;</cbc:ID>
  <cbc:Note><![CDATA[<raw>]]></cbc:Note>
</Invoice>"#;
        let doc = parse(doc).unwrap();
        let root = doc.root();
        assert_eq!(root.name(), "Invoice");
        assert_eq!(
            root.namespace(),
            Some("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2")
        );
        let id = root.child("ID").unwrap();
        assert_eq!(id.namespace(), Some("urn:cbc"));
        assert_eq!(id.text(), "F & 1A");
        assert_eq!(id.attr("schemeID"), Some("x"));
        assert_eq!(root.text_at(&["Note"]), Some("<raw>"));
    }

    #[test]
    fn reports_errors_with_positions() {
        let e = parse(b"hello").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (1, "Content is not allowed in prolog."));
        let e = parse(b"<a>\n<b></a>").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("must be terminated by the matching end-tag"),
            "{}",
            e.message
        );
        let e = parse(b"<a><b>").unwrap_err();
        assert!(
            e.message.contains("start and end within the same entity"),
            "{}",
            e.message
        );
        let e = parse(b"").unwrap_err();
        assert_eq!(e.message, "Premature end of file.");
        let e = parse(b"<a/><b/>").unwrap_err();
        assert!(e.message.contains("following the root element"));
        let e = parse(b"<x:a/>").unwrap_err();
        assert!(e.message.contains("is not bound"));
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert!(parse(deep.as_bytes()).unwrap_err().message.contains("nesting"));
        let e = parse(b"<a>\xff</a>").unwrap_err();
        assert!(e.message.contains("UTF-8"));
        let e = parse(b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>").unwrap_err();
        assert!(e.message.contains("DOCTYPE"));
        assert!(
            e.sax_text()
                .starts_with("org.xml.sax.SAXParseException; lineNumber: 1; columnNumber: ")
        );
    }
}
