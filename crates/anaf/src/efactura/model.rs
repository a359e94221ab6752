//! The values e-Factura operations take and return.
//!
//! Every result serialises to JSON with stable snake_case names (what the bindings hand over):
//! times are RFC 3339 with the Romanian offset (`2026-07-15T10:30:00+03:00`), ids are numbers
//! (ANAF's are 10 digits, exact in a JavaScript number), bytes (a PDF) are base64, enums are
//! their `code()`. Every code-like enum parses back from its code with `FromStr`.

use std::str::FromStr;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use chrono_tz::Europe::Bucharest;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::error::{Error, unknown_code};

/// The `standard` of an upload. Serialised as its code (`ubl`, `credit_note`, `cii`,
/// `rasp`); parses from the code or ANAF's value (`UBL`, `CN`, `CII`, `RASP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Standard {
    /// UBL 2.1 Invoice (CIUS-RO).
    #[default]
    Ubl,
    /// UBL 2.1 CreditNote.
    CreditNote,
    /// UN/CEFACT Cross Industry Invoice.
    Cii,
    /// A buyer's message about a received invoice ("RASP").
    Rasp,
}

impl Standard {
    /// ANAF's value of the `standard` parameter.
    pub fn wire(self) -> &'static str {
        match self {
            Standard::Ubl => "UBL",
            Standard::CreditNote => "CN",
            Standard::Cii => "CII",
            Standard::Rasp => "RASP",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Standard::Ubl => "ubl",
            Standard::CreditNote => "credit_note",
            Standard::Cii => "cii",
            Standard::Rasp => "rasp",
        }
    }
}

parse_codes!(
    Standard,
    "upload standard",
    [Standard::Ubl, Standard::CreditNote, Standard::Cii, Standard::Rasp],
    |s| s.wire()
);

/// Upload parameters besides the CIF: `UploadOptions::default()` (a UBL invoice) and the
/// setters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct UploadOptions {
    pub standard: Standard,
    /// `extern=DA`: the buyer is outside Romania.
    pub external: bool,
    /// `autofactura=DA`: self-billing (the buyer issues in the seller's name).
    pub self_billed: bool,
    /// `executare=DA`: filed by an enforcement body on the debtor's behalf.
    pub enforcement: bool,
    /// Send to `uploadb2c` (invoices to consumers).
    pub b2c: bool,
}

impl UploadOptions {
    pub fn new() -> UploadOptions {
        UploadOptions::default()
    }

    pub fn standard(mut self, standard: Standard) -> Self {
        self.standard = standard;
        self
    }

    pub fn external(mut self, external: bool) -> Self {
        self.external = external;
        self
    }

    pub fn self_billed(mut self, self_billed: bool) -> Self {
        self.self_billed = self_billed;
        self
    }

    pub fn enforcement(mut self, enforcement: bool) -> Self {
        self.enforcement = enforcement;
        self
    }

    pub fn b2c(mut self, b2c: bool) -> Self {
        self.b2c = b2c;
        self
    }
}

/// ANAF's receipt for an accepted upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UploadReceipt {
    /// `index_incarcare`: what `status` takes.
    pub upload_id: u64,
    /// `dateResponse`, as ANAF wrote it (`YYYYMMDDHHmm`, Romanian time).
    pub response_time: String,
}

/// `stareMesaj`: where an upload stands. Serialised as
/// `{"state": "ok", "download_id": 3001293434}` (`download_id` null unless `ok`/`nok`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UploadState {
    /// `in prelucrare`: still processing; ask again later.
    InProgress,
    /// `ok`: accepted and delivered to the buyer; download the signed invoice with this id.
    Ok { download_id: u64 },
    /// `nok`: refused; download ANAF's error document with this id.
    Nok { download_id: u64 },
    /// `XML cu erori nepreluat de sistem`: refused without an error document.
    RejectedXml,
}

impl UploadState {
    pub fn is_final(self) -> bool {
        !matches!(self, UploadState::InProgress)
    }

    pub fn download_id(self) -> Option<u64> {
        match self {
            UploadState::Ok { download_id } | UploadState::Nok { download_id } => Some(download_id),
            _ => None,
        }
    }

    /// The stable name bindings use: `in_progress`, `ok`, `nok`, `rejected_xml`.
    pub fn code(self) -> &'static str {
        match self {
            UploadState::InProgress => "in_progress",
            UploadState::Ok { .. } => "ok",
            UploadState::Nok { .. } => "nok",
            UploadState::RejectedXml => "rejected_xml",
        }
    }
}

impl Serialize for UploadState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("UploadState", 2)?;
        s.serialize_field("state", self.code())?;
        s.serialize_field("download_id", &self.download_id())?;
        s.end()
    }
}

/// What `upload_and_wait` ended with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Submission {
    pub receipt: UploadReceipt,
    /// The last state seen: final, or [`UploadState::InProgress`] when the wait or the poll
    /// budget ran out (poll again later with `status`).
    pub state: UploadState,
    /// How many `stareMesaj` calls were spent.
    pub polls: u32,
}

/// Which messages a list returns (`filtru`). Parses from its code (`errors`, `sent`,
/// `received`, `buyer_messages`) or ANAF's letter (`E`, `T`, `P`, `R`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageFilter {
    /// `E`: ERORI FACTURA.
    Errors,
    /// `T`: FACTURA TRIMISA.
    Sent,
    /// `P`: FACTURA PRIMITA.
    Received,
    /// `R`: MESAJ CUMPARATOR (buyer messages).
    BuyerMessages,
}

impl MessageFilter {
    pub fn wire(self) -> &'static str {
        match self {
            MessageFilter::Errors => "E",
            MessageFilter::Sent => "T",
            MessageFilter::Received => "P",
            MessageFilter::BuyerMessages => "R",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            MessageFilter::Errors => "errors",
            MessageFilter::Sent => "sent",
            MessageFilter::Received => "received",
            MessageFilter::BuyerMessages => "buyer_messages",
        }
    }
}

parse_codes!(
    MessageFilter,
    "message filter",
    [
        MessageFilter::Errors,
        MessageFilter::Sent,
        MessageFilter::Received,
        MessageFilter::BuyerMessages
    ],
    |f| f.wire()
);

/// A message's `tip`. Serialised as its code; parses from the code or ANAF's `tip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageKind {
    /// `FACTURA TRIMISA`.
    Sent,
    /// `FACTURA PRIMITA`.
    Received,
    /// `ERORI FACTURA`.
    Errors,
    /// `MESAJ CUMPARATOR ...`.
    BuyerMessage,
    /// Something newer than this client.
    Other,
}

impl MessageKind {
    pub fn from_wire(tip: &str) -> MessageKind {
        match tip.trim() {
            "FACTURA TRIMISA" => MessageKind::Sent,
            "FACTURA PRIMITA" => MessageKind::Received,
            "ERORI FACTURA" => MessageKind::Errors,
            t if t.starts_with("MESAJ CUMPARATOR") => MessageKind::BuyerMessage,
            _ => MessageKind::Other,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            MessageKind::Sent => "sent",
            MessageKind::Received => "received",
            MessageKind::Errors => "errors",
            MessageKind::BuyerMessage => "buyer_message",
            MessageKind::Other => "other",
        }
    }
}

impl FromStr for MessageKind {
    type Err = Error;

    fn from_str(text: &str) -> Result<MessageKind, Error> {
        let all = [
            MessageKind::Sent,
            MessageKind::Received,
            MessageKind::Errors,
            MessageKind::BuyerMessage,
            MessageKind::Other,
        ];
        if let Some(kind) = all.into_iter().find(|k| k.code() == text) {
            return Ok(kind);
        }
        match MessageKind::from_wire(text) {
            MessageKind::Other => Err(unknown_code("message kind", text)),
            kind => Ok(kind),
        }
    }
}

/// One entry of a message list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Message {
    /// `id`: the download id.
    pub id: u64,
    /// `id_solicitare`: the upload index.
    pub upload_id: u64,
    /// `cif`: the company whose list this is.
    pub cif: String,
    pub kind: MessageKind,
    /// `data_creare`, in Romanian time.
    pub created_at: Option<DateTime<FixedOffset>>,
    /// `detalii`, as ANAF wrote it.
    pub details: String,
    /// `tip`, as ANAF wrote it.
    pub raw_kind: String,
    /// `data_creare`, as ANAF wrote it (`YYYYMMDDHHmm`).
    pub raw_created_at: String,
}

impl Message {
    /// The other company of an invoice message, read from `detalii` (ANAF sends no field for
    /// it): the issuer of a received invoice, the buyer of a sent one, either side of a
    /// self-billed one. `None` for an error message, or a wording this client does not know.
    pub fn partner_cif(&self) -> Option<&str> {
        // Every `cif...=DIGITS` in the text ("cif_emitent=", "cif_beneficiar=", "cif="); the
        // first that is not this list's company. Written by hand: two fixed shapes, no regex.
        let text = self.details.as_str();
        let mut rest = text;
        while let Some(at) = rest.find("cif") {
            let after = &rest[at + 3..];
            let value = after
                .find('=')
                .filter(|&eq| after[..eq].chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
                .map(|eq| &after[eq + 1..]);
            if let Some(value) = value {
                let digits = value.len() - value.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let cif = &value[..digits];
                if !cif.is_empty() && cif != self.cif {
                    return Some(cif);
                }
            }
            rest = after;
        }
        None
    }
}

/// Parses ANAF's `YYYYMMDDHHmm` (or with seconds) in Romanian time.
pub(crate) fn bucharest_time(stamp: &str) -> Option<DateTime<FixedOffset>> {
    let format = match stamp.len() {
        12 => "%Y%m%d%H%M",
        14 => "%Y%m%d%H%M%S",
        _ => return None,
    };
    let naive = NaiveDateTime::parse_from_str(stamp, format).ok()?;
    Bucharest
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.fixed_offset())
}

/// One page of the paginated list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// 1-based.
    pub page: u32,
    pub total_pages: u32,
    pub total_messages: u64,
    pub per_page: u32,
}

/// `validare`'s verdict (for `nok`, ANAF's messages).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ValidationReport {
    pub valid: bool,
    pub messages: Vec<String>,
    pub trace_id: Option<String>,
}

/// Which validation schema: `FACT1` (invoice) or `FCN` (credit note). Parses from its code
/// (`invoice`, `credit_note`) or ANAF's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DocumentType {
    #[default]
    Invoice,
    CreditNote,
}

impl DocumentType {
    pub fn wire(self) -> &'static str {
        match self {
            DocumentType::Invoice => "FACT1",
            DocumentType::CreditNote => "FCN",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            DocumentType::Invoice => "invoice",
            DocumentType::CreditNote => "credit_note",
        }
    }
}

parse_codes!(
    DocumentType,
    "document type",
    [DocumentType::Invoice, DocumentType::CreditNote],
    |d| d.wire()
);

/// `transformare`'s answer: the PDF, or why ANAF would not render it. Serialised as
/// `{"outcome": "pdf", "pdf": "<base64>"}` or `{"outcome": "invalid", "report": {...}}`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PdfOutcome {
    Pdf(Bytes),
    Invalid(ValidationReport),
}

impl std::fmt::Debug for PdfOutcome {
    // The size, not the document: a Debug of a result must stay readable in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PdfOutcome::Pdf(pdf) => write!(f, "Pdf({} bytes)", pdf.len()),
            PdfOutcome::Invalid(report) => f.debug_tuple("Invalid").field(report).finish(),
        }
    }
}

impl Serialize for PdfOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PdfOutcome", 2)?;
        match self {
            PdfOutcome::Pdf(pdf) => {
                s.serialize_field("outcome", "pdf")?;
                s.serialize_field("pdf", &crate::base64_text(pdf))?;
            }
            PdfOutcome::Invalid(report) => {
                s.serialize_field("outcome", "invalid")?;
                s.serialize_field("report", report)?;
            }
        }
        s.end()
    }
}

/// The signature service's verdict, with ANAF's message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SignatureVerdict {
    pub valid: bool,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucharest_stamps_carry_the_right_offset() {
        let winter = bucharest_time("202601151030").unwrap();
        assert_eq!(winter.offset().local_minus_utc(), 2 * 3600);
        let summer = bucharest_time("20260715103000").unwrap();
        assert_eq!(summer.offset().local_minus_utc(), 3 * 3600);
        assert!(bucharest_time("2026").is_none());
    }

    #[test]
    fn the_partner_is_read_from_each_wording_of_detalii() {
        let message = |cif: &str, details: &str| Message {
            id: 1,
            upload_id: 2,
            cif: cif.into(),
            kind: MessageKind::Received,
            created_at: None,
            details: details.into(),
            raw_kind: String::new(),
            raw_created_at: String::new(),
        };
        let received = "Factura cu id_incarcare=5001131297 emisa de cif_emitent=8000000000 pentru cif_beneficiar=3";
        assert_eq!(message("3", received).partner_cif(), Some("8000000000"));
        assert_eq!(message("8000000000", received).partner_cif(), Some("3"));
        let self_billed = "Factura cu id_incarcare=1 transmisa de cif=123  ca autofactura in numele cif=456";
        assert_eq!(message("123", self_billed).partner_cif(), Some("456"));
        let error = "Erori de validare identificate la factura primita cu id_incarcare=5001130147";
        assert_eq!(message("3", error).partner_cif(), None);
        assert_eq!(message("3", "cif_emitent= cif=3 cifra=x cif").partner_cif(), None);
    }

    #[test]
    fn code_like_enums_parse_from_their_codes_and_anafs_values() {
        for standard in [Standard::Ubl, Standard::CreditNote, Standard::Cii, Standard::Rasp] {
            assert_eq!(standard.code().parse::<Standard>().unwrap(), standard);
            assert_eq!(standard.wire().parse::<Standard>().unwrap(), standard);
        }
        assert_eq!("P".parse::<MessageFilter>().unwrap(), MessageFilter::Received);
        assert_eq!(
            "buyer_messages".parse::<MessageFilter>().unwrap(),
            MessageFilter::BuyerMessages
        );
        assert_eq!("FACTURA PRIMITA".parse::<MessageKind>().unwrap(), MessageKind::Received);
        assert_eq!("FCN".parse::<DocumentType>().unwrap(), DocumentType::CreditNote);
        assert_eq!("xml".parse::<Standard>().unwrap_err().field(), Some("code"));
    }

    #[test]
    fn results_serialise_with_stable_names() {
        let state = serde_json::to_string(&UploadState::Nok {
            download_id: 3001293434,
        })
        .unwrap();
        assert_eq!(state, r#"{"state":"nok","download_id":3001293434}"#);
        let pdf = PdfOutcome::Pdf(Bytes::from_static(b"%PDF-1.7 body"));
        assert_eq!(format!("{pdf:?}"), "Pdf(13 bytes)");
        assert_eq!(
            serde_json::to_string(&pdf).unwrap(),
            r#"{"outcome":"pdf","pdf":"JVBERi0xLjcgYm9keQ=="}"#
        );
        let message = Message {
            id: 3001293434,
            upload_id: 5001130147,
            cif: "8000000000".into(),
            kind: MessageKind::Sent,
            created_at: bucharest_time("202211011415"),
            details: "d".into(),
            raw_kind: "FACTURA TRIMISA".into(),
            raw_created_at: "202211011415".into(),
        };
        assert_eq!(
            serde_json::to_string(&message).unwrap(),
            r#"{"id":3001293434,"upload_id":5001130147,"cif":"8000000000","kind":"sent","created_at":"2022-11-01T14:15:00+02:00","details":"d","raw_kind":"FACTURA TRIMISA","raw_created_at":"202211011415"}"#
        );
    }
}
