//! A small namespace-aware XML tree for the documents the sandbox receives (invoices, RASP
//! messages, e-Transport declarations, signatures). Bodies are at most 10 MB, so a tree is
//! cheap, and checking business rules on a tree is far simpler than on a stream.
//!
//! Parse failures are reported the way ANAF's Java parser (Xerces) words them, with line and
//! column, because that text ends up in ANAF's `Fisierul transmis nu este valid...` answers.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub namespace: Option<String>,
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// Concatenated character data directly inside this element.
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of local names from this element.
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |el, name| el.child(name))
    }

    /// Trimmed, non-empty text at a path.
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).map(|e| e.text.trim()).filter(|t| !t.is_empty())
    }

    pub fn has_element_children(&self) -> bool {
        !self.children.is_empty()
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
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}

/// How deep elements may nest.
pub const MAX_DEPTH: usize = 256;

pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
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

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let at = reader.buffer_position() as usize + bom;
        let event = reader.read_resolved_event();
        let (resolved, event) = match event {
            Ok(ok) => ok,
            Err(e) => {
                let offset = reader.error_position() as usize + bom;
                return Err(fail(offset, xerces_message(&e, &stack)));
            }
        };
        let is_empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                if root.is_some() {
                    return Err(fail(
                        at,
                        "The markup in the document following the root element must be well-formed.".into(),
                    ));
                }
                let qname = start.name().as_ref().to_owned();
                let namespace = match resolved {
                    ResolveResult::Bound(ns) => Some(ns.as_ref().to_owned()),
                    ResolveResult::Unbound => None,
                    ResolveResult::Unknown(prefix) => {
                        return Err(fail(
                            at,
                            format!("The prefix \"{prefix}\" for element \"{qname}\" is not bound."),
                        ));
                    }
                };
                let mut element = Element {
                    namespace,
                    name: start.local_name().as_ref().to_owned(),
                    ..Element::default()
                };
                for attr in start.attributes().with_checks(true) {
                    let attr = attr.map_err(|e| fail(at, format!("Attribute error in element \"{qname}\": {e}.")))?;
                    let key = attr.key.as_ref().to_owned();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        continue;
                    }
                    let local = key.rsplit(':').next().unwrap_or(&key).to_owned();
                    let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|_| {
                        fail(
                            at,
                            format!("The reference in attribute \"{key}\" of element \"{qname}\" is not valid."),
                        )
                    })?;
                    element.attributes.push((local, value.into_owned()));
                }
                if is_empty {
                    close(&mut stack, &mut root, element);
                } else if stack.len() >= MAX_DEPTH {
                    // Far beyond any invoice (UBL nests about 10 deep); a deeper document would
                    // only serve to exhaust the stack.
                    return Err(fail(
                        at,
                        format!("The element nesting is deeper than {MAX_DEPTH} levels."),
                    ));
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let element = stack.pop().expect("the reader checks end tags");
                close(&mut stack, &mut root, element);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                append_text(&mut stack, &content, || fail(at, outside_root_message(&root)))?;
            }
            Event::CData(c) => {
                let content = c.xml10_content();
                append_text(&mut stack, &content, || fail(at, outside_root_message(&root)))?;
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
                append_text(&mut stack, &resolved, || fail(at, outside_root_message(&root)))?;
            }
            Event::DocType(_) => {
                // Entity declarations would let a body expand without bound; ANAF's parsers
                // refuse DOCTYPE too.
                return Err(fail(at, "DOCTYPE is disallowed when the feature \"http://apache.org/xml/features/disallow-doctype-decl\" set to true.".into()));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                return match (root, stack.is_empty()) {
                    (Some(root), true) => Ok(root),
                    (None, true) => Err(fail(at, "Premature end of file.".into())),
                    (_, false) => Err(fail(
                        at,
                        "XML document structures must start and end within the same entity.".into(),
                    )),
                };
            }
        }
    }
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn append_text(stack: &mut [Element], content: &str, outside: impl FnOnce() -> XmlError) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            parent.text.push_str(content);
            Ok(())
        }
        None if content.trim().is_empty() => Ok(()),
        None => Err(outside()),
    }
}

fn outside_root_message(root: &Option<Element>) -> String {
    if root.is_some() {
        "Content is not allowed in trailing section.".into()
    } else {
        "Content is not allowed in prolog.".into()
    }
}

fn xerces_message(error: &quick_xml::Error, stack: &[Element]) -> String {
    use quick_xml::errors::{Error, IllFormedError};
    match error {
        Error::IllFormed(IllFormedError::MismatchedEndTag { expected, .. }) => {
            format!("The element type \"{expected}\" must be terminated by the matching end-tag \"</{expected}>\".")
        }
        Error::IllFormed(IllFormedError::UnmatchedEndTag(name)) => {
            format!("The end-tag for element type \"{name}\" must end with a '>' delimiter.")
        }
        Error::Syntax(_) if !stack.is_empty() => {
            "XML document structures must start and end within the same entity.".into()
        }
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
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Invoice");
        assert_eq!(
            root.namespace.as_deref(),
            Some("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2")
        );
        let id = root.child("ID").unwrap();
        assert_eq!(id.namespace.as_deref(), Some("urn:cbc"));
        assert_eq!(id.text, "F & 1A");
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
