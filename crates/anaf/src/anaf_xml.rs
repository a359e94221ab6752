//! Reading ANAF's small XML answers: a root `header` element whose attributes carry the
//! result, and `Errors`/`Error` children whose `errorMessage` attributes carry failures.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::error::Error;

#[derive(Debug, Default)]
pub(crate) struct Header {
    pub namespace: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub errors: Vec<String>,
}

impl Header {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn attributes(element: &BytesStart<'_>) -> Result<Vec<(String, String)>, Error> {
    element
        .attributes()
        .map(|attr| {
            let attr = attr.map_err(|e| Error::unexpected(200, "malformed XML attribute", e.to_string().as_bytes()))?;
            let key = attr.key.local_name().as_ref().to_owned();
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| Error::unexpected(200, "malformed XML attribute value", e.to_string().as_bytes()))?;
            Ok((key, value.into_owned()))
        })
        .collect()
}

pub(crate) fn parse_header(body: &[u8]) -> Result<Header, Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::unexpected(200, "answer is not UTF-8", body))?;
    let mut reader = Reader::from_str(text);
    let mut header: Option<Header> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let attrs = attributes(&e)?;
                match &mut header {
                    None => {
                        let namespace = attrs.iter().find(|(k, _)| k == "xmlns").map(|(_, v)| v.clone());
                        header = Some(Header {
                            namespace,
                            attributes: attrs,
                            errors: Vec::new(),
                        });
                    }
                    Some(header) => {
                        if let Some((_, message)) = attrs.into_iter().find(|(k, _)| k == "errorMessage") {
                            header.errors.push(message);
                        }
                    }
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => return Err(Error::unexpected(200, "malformed XML answer", body)),
        }
    }
    header.ok_or_else(|| Error::unexpected(200, "empty XML answer", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_attributes_and_errors() {
        let h = parse_header(br#"<?xml version="1.0"?><header xmlns="mfp:x" stare="ok" id_descarcare="12"/>"#).unwrap();
        assert_eq!(h.namespace.as_deref(), Some("mfp:x"));
        assert_eq!(h.attr("id_descarcare"), Some("12"));
        let h = parse_header(b"<header><Errors errorMessage=\"A &amp; B 'x'\"/><Errors errorMessage=\"C\"/></header>")
            .unwrap();
        assert_eq!(h.errors, vec!["A & B 'x'", "C"]);
        assert!(parse_header(b"not xml <").is_err());
    }
}
