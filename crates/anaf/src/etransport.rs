//! RO e-Transport: declare road transports of goods, get their UIT (the transport's unique
//! code), follow their state, list them.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use serde_json::Value;

use crate::cif::Cif;
use crate::client::Client;
use crate::error::{Error, ErrorKind, LimitScope, from_anaf_text};
use crate::quota::Counter;
use crate::transport::Call;

/// A UIT (Unic Identificator de Transport): 14 characters from digits and capitals without
/// O, I, Z, S, G, B, then two digits that are the last two digits of the sum of the first 14
/// characters' ASCII codes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Uit(String);

const UIT_ALPHABET: &[u8] = b"0123456789ACDEFHJKLMNPQRTUVWXY";

impl Uit {
    pub fn parse(text: &str) -> Result<Uit, Error> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() != 16
            || !bytes[..14].iter().all(|b| UIT_ALPHABET.contains(b))
            || !bytes[14..].iter().all(u8::is_ascii_digit)
        {
            return Err(Error::invalid_input(
                "uit",
                format!(
                    "{} is not a UIT (16 characters, see the UIT format)",
                    crate::error::shown(text)
                ),
            ));
        }
        let sum: u32 = bytes[..14].iter().map(|&b| u32::from(b)).sum();
        if format!("{:02}", sum % 100) != text[14..] {
            return Err(Error::invalid_input(
                "uit",
                format!(
                    "{} is not a valid UIT: its check digits are wrong",
                    crate::error::shown(text)
                ),
            ));
        }
        Ok(Uit(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Uit {
    type Err = Error;
    fn from_str(text: &str) -> Result<Uit, Error> {
        Uit::parse(text)
    }
}

impl fmt::Display for Uit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The declaration schema version (`versiune`). Parses from `1`/`2` or `v1`/`v2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SchemaVersion {
    V1,
    #[default]
    V2,
}

impl SchemaVersion {
    /// ANAF's `versiune` path segment.
    pub fn wire(self) -> &'static str {
        match self {
            SchemaVersion::V1 => "1",
            SchemaVersion::V2 => "2",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            SchemaVersion::V1 => "v1",
            SchemaVersion::V2 => "v2",
        }
    }
}

parse_codes!(
    SchemaVersion,
    "schema version",
    [SchemaVersion::V1, SchemaVersion::V2],
    |v| v.wire()
);

/// ANAF's receipt for a declaration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TransportReceipt {
    pub upload_id: u64,
    /// Issued at once, valid only once `status` says `ok`.
    pub uit: Option<Uit>,
    /// The UIT exactly as ANAF sent it.
    pub raw_uit: String,
    pub reference: String,
    pub trace_id: Option<String>,
    /// `atentie`: ANAF's reminder that the UIT is valid only after `status` says `ok`.
    pub warning: Option<String>,
    pub response_time: String,
}

/// The state of a declaration, with ANAF's errors for `nok`. Serialised as
/// `{"state": "nok", "errors": ["..."]}` (`errors` empty unless `nok`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportState {
    InProgress,
    Ok,
    Nok { errors: Vec<String> },
    RejectedXml,
}

impl TransportState {
    pub fn code(&self) -> &'static str {
        match self {
            TransportState::InProgress => "in_progress",
            TransportState::Ok => "ok",
            TransportState::Nok { .. } => "nok",
            TransportState::RejectedXml => "rejected_xml",
        }
    }
}

impl Serialize for TransportState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("TransportState", 2)?;
        s.serialize_field("state", self.code())?;
        let none = Vec::new();
        let errors = match self {
            TransportState::Nok { errors } => errors,
            _ => &none,
        };
        s.serialize_field("errors", errors)?;
        s.end()
    }
}

/// One entry of the e-Transport list. The typed fields cover what programs usually need; the
/// full record ANAF sent is in `raw`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TransportRecord {
    pub upload_id: u64,
    pub uit: Option<String>,
    pub declarant_cif: String,
    pub reference: Option<String>,
    /// `tip`: NOT (notification), COR, DEL, CON, MVH.
    pub kind: Option<String>,
    /// `stare`: OK or ERR.
    pub state: Option<String>,
    /// `tip_op`: operation type code (30: domestic transport, ...).
    pub operation: Option<String>,
    pub created_at: Option<DateTime<FixedOffset>>,
    pub vehicle: Option<String>,
    /// Messages ANAF attached (`mesaje[].mesaj`), e.g. why it was refused.
    pub messages: Vec<String>,
    pub raw: Value,
}

/// The e-Transport operations of a [`Client`]. Owns a clone of the client (cheap).
#[derive(Clone, Debug)]
pub struct ETransport {
    pub(crate) client: Client,
}

fn json(status: u16, body: &[u8], what: &str) -> Result<Value, Error> {
    serde_json::from_slice(body).map_err(|_| Error::unexpected(status, what, body))
}

/// The `Errors` array of an e-Transport answer, as texts.
fn errors(value: &Value) -> Vec<String> {
    value
        .get("Errors")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| e.get("errorMessage").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn string(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

// The answers are read by plain functions of the status and body (not inside the calls) so
// the fuzz targets reach the same code (`crate::fuzzing`).

/// The answer to an upload. Only an explicit refusal proves ANAF did not take the declaration:
/// anything else unreadable leaves the outcome unknown.
pub(crate) fn receipt(status: u16, body: &[u8]) -> Result<TransportReceipt, Error> {
    let answer = json(status, body, "e-Transport upload answer").map_err(Error::with_outcome_unknown)?;
    if let Some(text) = errors(&answer).first() {
        return Err(from_anaf_text(text, status));
    }
    let upload_id = answer
        .get("index_incarcare")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
    let Some(upload_id) = upload_id else {
        return Err(
            Error::unexpected(status, "e-Transport upload answer without index_incarcare", body).with_outcome_unknown(),
        );
    };
    let raw_uit = string(&answer, "UIT").unwrap_or_default();
    Ok(TransportReceipt {
        upload_id,
        uit: Uit::parse(&raw_uit).ok(),
        raw_uit,
        reference: string(&answer, "ref_declarant").unwrap_or_default(),
        trace_id: string(&answer, "trace_id"),
        warning: string(&answer, "atentie"),
        response_time: string(&answer, "dateResponse").unwrap_or_default(),
    })
}

/// The answer of `stareMesaj`.
pub(crate) fn state(status: u16, body: &[u8]) -> Result<TransportState, Error> {
    let answer = json(status, body, "e-Transport state answer")?;
    let errors = errors(&answer);
    match answer.get("stare").and_then(Value::as_str).map(str::trim) {
        Some("ok") => Ok(TransportState::Ok),
        Some("in prelucrare") => Ok(TransportState::InProgress),
        Some("XML cu erori nepreluat de sistem") => Ok(TransportState::RejectedXml),
        Some("nok") => Ok(TransportState::Nok { errors }),
        _ => Err(match errors.first() {
            Some(text) => from_anaf_text(text, status),
            None => Error::unexpected(status, "e-Transport state answer", body),
        }),
    }
}

/// The answer of `lista`: the records, none when ANAF says there are none.
pub(crate) fn records(status: u16, body: &[u8]) -> Result<Vec<TransportRecord>, Error> {
    let answer = json(status, body, "e-Transport list answer")?;
    if let Some(text) = errors(&answer).first() {
        if text.starts_with("Nu exista mesaje") {
            return Ok(Vec::new());
        }
        let error = from_anaf_text(text, status);
        // The e-Transport list budget counts per user, not per CIF.
        return Err(if error.kind() == ErrorKind::DailyLimit {
            error.with_limit_scope(LimitScope::User)
        } else {
            error
        });
    }
    let records = match answer.get("mesaje") {
        Some(Value::Array(records)) => records.as_slice(),
        _ => &[],
    };
    records
        .iter()
        .map(|raw| {
            let upload_id = string(raw, "id_incarcare")
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| {
                    Error::unexpected(status, "an e-Transport record without a numeric id_incarcare", body)
                })?;
            Ok(TransportRecord {
                upload_id,
                uit: string(raw, "uit"),
                declarant_cif: string(raw, "cod_decl").unwrap_or_default(),
                reference: string(raw, "ref_decl"),
                kind: string(raw, "tip"),
                state: string(raw, "stare"),
                operation: string(raw, "tip_op"),
                created_at: string(raw, "data_creare").and_then(|s| crate::efactura::bucharest_time(&s)),
                vehicle: string(raw, "nr_veh"),
                messages: raw
                    .get("mesaje")
                    .and_then(Value::as_array)
                    .map(|m| {
                        m.iter()
                            .filter_map(|e| e.get("mesaj").and_then(Value::as_str).map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                raw: raw.clone(),
            })
        })
        .collect()
}

/// The answer of `info`: ANAF's records, none when ANAF says there is no information.
pub(crate) fn info_records(status: u16, body: &[u8]) -> Result<Vec<Value>, Error> {
    match json(status, body, "e-Transport info answer")? {
        Value::Array(records) => Ok(records),
        other => match other.get("error").and_then(Value::as_str) {
            Some(text) if text.starts_with("Nu exista informatii") => Ok(Vec::new()),
            Some(text) => Err(from_anaf_text(text, status)),
            None => Err(Error::unexpected(status, "e-Transport info answer", body)),
        },
    }
}

impl ETransport {
    fn url(&self, path: &str) -> url::Url {
        self.client.api_url(&format!(
            "{}/ETRANSPORT/ws/v1/{path}",
            self.client.environment().segment()
        ))
    }

    /// Uploads a declaration for `cif` (schema v2 unless told otherwise). Never retried.
    pub async fn upload(
        &self,
        xml: impl Into<Bytes>,
        cif: &str,
        version: SchemaVersion,
    ) -> Result<TransportReceipt, Error> {
        let cif = Cif::parse(cif)?;
        let url = self.url(&format!("upload/ETRANSP/{}/{}", cif.as_str(), version.wire()));
        let reply = self
            .client
            .send(Call::post("etransport.upload", url, xml.into(), "application/xml").once())
            .await?
            .check()?;
        let receipt = receipt(reply.status, &reply.body)?;
        crate::cancel::note_upload_accepted(receipt.upload_id);
        Ok(receipt)
    }

    pub async fn status(&self, upload_id: u64) -> Result<TransportState, Error> {
        let url = self.url(&format!("stareMesaj/{upload_id}"));
        let call = Call::get("etransport.status", url).counted(Counter::TransportStatus, upload_id);
        self.client.fetch(call, |reply| state(reply.status, &reply.body)).await
    }

    /// Declarations of the last `days` (1 to 60) for `cif`. Empty when there are none.
    pub async fn list(&self, cif: &str, days: u32) -> Result<Vec<TransportRecord>, Error> {
        let cif = Cif::parse(cif)?;
        if !(1..=60).contains(&days) {
            return Err(Error::invalid_input(
                "zile",
                format!("days must be between 1 and 60, not {days}"),
            ));
        }
        let url = self.url(&format!("lista/{days}/{}", cif.as_str()));
        // ANAF counts this list per user: the ledger keeps one count for all its users.
        let call = Call::get("etransport.list", url).counted(Counter::TransportList, "user");
        self.client
            .fetch(call, |reply| records(reply.status, &reply.body))
            .await
    }

    /// Transports organised by `operator_cif` (`info`), optionally narrowed to a declarant,
    /// a UIT or a declarant reference. Each entry is ANAF's JSON record. Empty when none.
    pub async fn info(&self, operator_cif: &str, filter: InfoFilter) -> Result<Vec<Value>, Error> {
        let cif = Cif::parse(operator_cif)?;
        let mut url = self.url("info");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("cui_op", cif.as_str());
            if let Some(v) = &filter.declarant_cif {
                query.append_pair("cui_decl", v);
            }
            if let Some(v) = &filter.uit {
                query.append_pair("uit", v);
            }
            if let Some(v) = &filter.reference {
                query.append_pair("ref_decl", v);
            }
        }
        let reply = self.client.send(Call::get("etransport.info", url)).await?.check()?;
        info_records(reply.status, &reply.body)
    }
}

/// Optional narrowing of [`ETransport::info`]: `InfoFilter::default()` and the setters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InfoFilter {
    pub declarant_cif: Option<String>,
    pub uit: Option<String>,
    pub reference: Option<String>,
}

impl InfoFilter {
    pub fn declarant_cif(mut self, cif: impl Into<String>) -> Self {
        self.declarant_cif = Some(cif.into());
        self
    }

    pub fn uit(mut self, uit: impl Into<String>) -> Self {
        self.uit = Some(uit.into());
        self
    }

    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uit_checksum() {
        // Fourteen '0' (ASCII 48) sum to 672, so the check digits are 72.
        assert_eq!(Uit::parse("0000000000000072").unwrap().as_str(), "0000000000000072");
        assert_eq!(Uit::parse("0000000000000073").unwrap_err().field(), Some("uit"));
        assert!(Uit::parse("XAXAXAXAXAXAXAXA1").is_err());
        assert!(Uit::parse("O000000000000072").is_err(), "O is not in the alphabet");
    }
}
