//! The values e-Factura operations take and return.

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use chrono_tz::Europe::Bucharest;

/// The `standard` of an upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
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
    pub fn wire(self) -> &'static str {
        match self {
            Standard::Ubl => "UBL",
            Standard::CreditNote => "CN",
            Standard::Cii => "CII",
            Standard::Rasp => "RASP",
        }
    }
}

/// Upload parameters besides the CIF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
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

/// ANAF's receipt for an accepted upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadReceipt {
    /// `index_incarcare`: what `status` takes.
    pub upload_id: u64,
    /// `dateResponse`, as ANAF wrote it (`YYYYMMDDHHmm`, Romanian time).
    pub response_time: String,
}

/// `stareMesaj`: where an upload stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// What `upload_and_wait` ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    pub receipt: UploadReceipt,
    /// The last state seen: final, or [`UploadState::InProgress`] when the wait or the poll
    /// budget ran out (poll again later with `status`).
    pub state: UploadState,
    /// How many `stareMesaj` calls were spent.
    pub polls: u32,
}

/// Which messages a list returns (`filtru`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
}

/// A message's `tip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// One entry of a message list.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// 1-based.
    pub page: u32,
    pub total_pages: u32,
    pub total_messages: u64,
    pub per_page: u32,
}

/// `validare`'s verdict (for `nok`, ANAF's messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationReport {
    pub valid: bool,
    pub messages: Vec<String>,
    pub trace_id: Option<String>,
}

/// Which validation schema: `FACT1` (invoice) or `FCN` (credit note).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
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
}

/// `transformare`'s answer: the PDF, or why ANAF would not render it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PdfOutcome {
    Pdf(Bytes),
    Invalid(ValidationReport),
}

/// The signature service's verdict, with ANAF's message.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}
