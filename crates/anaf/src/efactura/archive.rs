//! ANAF's answer ZIP: `{N}.xml` (the invoice, or ANAF's error document for a `nok`) and
//! `semnatura_{N}.xml` (the Ministry of Finance's signature). The bytes are kept exactly as
//! received, and the same parser opens a ZIP the user already has (e.g. saved from the SPV
//! web page).

use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::error::{Error, ErrorKind};

/// The most one entry may decompress to. ANAF's documents are at most 10 MB; a larger entry
/// is not an ANAF archive (and could be a ZIP bomb).
pub const MAX_ENTRY_BYTES: u64 = 64 << 20;
const ERRORS_NAMESPACE: &str = "mfp:anaf:dgti:efactura:mesajEroriFactuta:v1";

/// A downloaded (or saved) answer archive. Cheap to clone (clones share the bytes and the
/// entries already decompressed: each entry is decompressed once, on first use).
#[derive(Clone)]
pub struct Archive {
    zip: Bytes,
    document_name: String,
    signature_name: String,
    upload_id: Option<u64>,
    document: Arc<OnceLock<Bytes>>,
    signature: Arc<OnceLock<Bytes>>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("size", &self.zip.len())
            .field("document", &self.document_name)
            .field("signature", &self.signature_name)
            .finish()
    }
}

/// `{"upload_id": 5001130147, "document_name": "5001130147.xml", "signature_name":
/// "semnatura_5001130147.xml", "zip": "<base64 of the archive as received>"}`.
impl Serialize for Archive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Archive", 4)?;
        s.serialize_field("upload_id", &self.upload_id)?;
        s.serialize_field("document_name", &self.document_name)?;
        s.serialize_field("signature_name", &self.signature_name)?;
        s.serialize_field("zip", &crate::base64_text(&self.zip))?;
        s.end()
    }
}

/// The first entry names, for an error message (an archive can hold a million).
fn listing(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(5).map(|n| crate::error::shown(n)).collect();
    match names.len() {
        0 => "no entries".to_owned(),
        n if n > shown.len() => format!("{} and {} more", shown.join(", "), n - shown.len()),
        _ => shown.join(", "),
    }
}

fn bad_zip(message: impl Into<String>) -> Error {
    Error::invalid_input("zip", message)
}

impl Archive {
    /// Opens an archive from its bytes; checks that it holds `{N}.xml` and
    /// `semnatura_{N}.xml` (in any order). Nothing is decompressed yet.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Archive, Error> {
        let zip = bytes.into();
        let archive =
            zip::ZipArchive::new(Cursor::new(zip.clone())).map_err(|e| bad_zip(format!("not a ZIP archive: {e}")))?;
        let names: Vec<String> = archive
            .file_names()
            .map(|name| name.map(|n| n.into_owned()))
            .collect::<Result<_, _>>()
            .map_err(|e| bad_zip(format!("unreadable entry name: {e}")))?;
        let signature_name = names
            .iter()
            .find(|n| n.starts_with("semnatura_") && n.ends_with(".xml"))
            .cloned()
            .ok_or_else(|| {
                bad_zip(format!(
                    "no semnatura_*.xml in the archive (it holds {})",
                    listing(&names)
                ))
            })?;
        let document_name = names
            .iter()
            .find(|n| n.ends_with(".xml") && **n != signature_name)
            .cloned()
            .ok_or_else(|| bad_zip(format!("no document in the archive (it holds {})", listing(&names))))?;
        let upload_id = document_name.strip_suffix(".xml").and_then(|n| n.parse().ok());
        Ok(Archive {
            zip,
            document_name,
            signature_name,
            upload_id,
            document: Arc::default(),
            signature: Arc::default(),
        })
    }

    pub fn open(path: impl AsRef<Path>) -> Result<Archive, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(ErrorKind::InvalidInput, format!("cannot read {}", path.display()))
                .with_field("zip")
                .with_source(e)
        })?;
        Archive::from_bytes(bytes)
    }

    /// The archive exactly as ANAF sent it.
    pub fn zip_bytes(&self) -> &Bytes {
        &self.zip
    }

    /// The upload index `N` the file names carry.
    pub fn upload_id(&self) -> Option<u64> {
        self.upload_id
    }

    pub fn document_name(&self) -> &str {
        &self.document_name
    }

    pub fn signature_name(&self) -> &str {
        &self.signature_name
    }

    /// Decompresses one entry, at most [`MAX_ENTRY_BYTES`]. The buffer grows with what is
    /// actually decompressed, never from the size the entry's header claims (a hostile
    /// archive can claim gigabytes).
    fn read(&self, name: &str) -> Result<Bytes, Error> {
        let mut archive = zip::ZipArchive::new(Cursor::new(self.zip.clone())).map_err(|e| bad_zip(e.to_string()))?;
        let mut file = archive.by_name(name).map_err(|e| bad_zip(format!("{name}: {e}")))?;
        let limit = MAX_ENTRY_BYTES as usize;
        let mut content = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let read = file
                .read(&mut chunk)
                .map_err(|e| bad_zip(format!("{name} cannot be decompressed: {e}")))?;
            if read == 0 {
                break;
            }
            if content.len() + read > limit {
                return Err(bad_zip(format!(
                    "{name} is larger than {} MB uncompressed: not an ANAF archive",
                    MAX_ENTRY_BYTES >> 20
                )));
            }
            if content.capacity() - content.len() < read {
                // Doubling, but never past the limit: a bomb costs the limit, not twice it.
                let wanted = (content.capacity() * 2).max(content.len() + read).min(limit);
                content.reserve_exact(wanted - content.len());
            }
            content.extend_from_slice(&chunk[..read]);
        }
        Ok(Bytes::from(content))
    }

    fn cached(&self, cell: &OnceLock<Bytes>, name: &str) -> Result<Bytes, Error> {
        if let Some(bytes) = cell.get() {
            return Ok(bytes.clone());
        }
        let bytes = self.read(name)?;
        Ok(cell.get_or_init(|| bytes).clone())
    }

    /// `{N}.xml`: the invoice (for `ok` and received invoices) or ANAF's error document,
    /// exactly as in the archive.
    pub fn document(&self) -> Result<Bytes, Error> {
        self.cached(&self.document, &self.document_name)
    }

    /// `semnatura_{N}.xml`: the signature (pass it with the document to `verify_signature`).
    pub fn signature(&self) -> Result<Bytes, Error> {
        self.cached(&self.signature, &self.signature_name)
    }

    /// ANAF's error document, parsed, when the archive answers a `nok`.
    pub fn error_report(&self) -> Result<Option<ErrorReport>, Error> {
        ErrorReport::parse(&self.document()?)
    }

    /// The invoice's main fields (number, dates, parties, totals), or `None` when the
    /// archive holds ANAF's error document instead.
    pub fn invoice_summary(&self) -> Result<Option<super::InvoiceSummary>, Error> {
        if self.error_report()?.is_some() {
            return Ok(None);
        }
        super::InvoiceSummary::parse(&self.document()?).map(Some)
    }
}

/// ANAF's reasons for refusing an invoice (the `nok` document).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ErrorReport {
    /// `Index_incarcare`.
    pub upload_id: Option<u64>,
    /// `Cif_emitent`.
    pub seller_cif: Option<String>,
    /// Each `<Error errorMessage=...>`, as ANAF wrote it.
    pub messages: Vec<String>,
}

impl ErrorReport {
    /// Parses an error document; `None` when the XML is something else (an invoice).
    pub fn parse(document: &[u8]) -> Result<Option<ErrorReport>, Error> {
        let header = match crate::anaf_xml::parse_header(document) {
            Ok(header) => header,
            Err(_) => return Ok(None),
        };
        if header.namespace.as_deref() != Some(ERRORS_NAMESPACE) {
            return Ok(None);
        }
        Ok(Some(ErrorReport {
            upload_id: header.attr("Index_incarcare").and_then(|v| v.trim().parse().ok()),
            seller_cif: header.attr("Cif_emitent").map(str::to_owned),
            messages: header.errors,
        }))
    }

    /// The earlier upload this invoice duplicates, if that is why it was refused.
    pub fn duplicate_of(&self) -> Option<u64> {
        self.messages
            .iter()
            .find(|m| m.contains("Factura a mai fost transmisa anterior"))
            .and_then(|m| crate::error::from_anaf_text(m, 200).previous_upload_id())
    }

    /// The report as an error: [`ErrorKind::DuplicateInvoice`] for a duplicate, else
    /// [`ErrorKind::InvalidInput`]; either way carrying all of ANAF's messages, one per line
    /// (a duplicate can be refused for other reasons too).
    pub fn to_error(&self) -> Error {
        let all = self.messages.join("\n");
        match self
            .messages
            .iter()
            .find(|m| m.contains("Factura a mai fost transmisa anterior"))
        {
            Some(text) => crate::error::from_anaf_text(text, 200).with_anaf_message(all),
            None => Error::invalid_input("xml", "ANAF refused the invoice").with_anaf_message(all),
        }
    }
}
