//! ANAF's public registries on webservicesp.anaf.ro (no login): the taxpayer (VAT) registry
//! and the RO e-Factura register. Accounting programs use them to fill in a partner from its
//! CIF: name, address, whether it is a VAT payer, applies VAT on collection ("TVA la
//! incasare"), is inactive, uses split VAT, and receives invoices through RO e-Factura.
//!
//! ANAF takes at most 100 CIFs per request and at most one request per second: any number of
//! CIFs is split into batches of 100, and requests to one host are paced 1.1 s apart across
//! every client of the process (the margin absorbs a connection that takes longer to set up
//! for one request than for the next).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cif::Cif;
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::transport::{Call, Reply};

/// ANAF's batch size for both registries.
pub const BATCH_SIZE: usize = 100;
/// The pace kept for both registries: ANAF's one second, and a margin.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1100);

/// The next free slot per host, shared by every client of the process (ANAF counts per
/// caller, not per client object).
static NEXT_SLOT: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);

/// Waits for the host's next one-per-second slot and books it.
async fn paced(host: &str) {
    let wait = {
        let mut slots = NEXT_SLOT.lock().unwrap_or_else(|p| p.into_inner());
        let slots = slots.get_or_insert_with(HashMap::new);
        let now = Instant::now();
        let slot = slots.get(host).copied().filter(|s| *s > now).unwrap_or(now);
        slots.insert(host.to_owned(), slot + MIN_INTERVAL);
        slot - now
    };
    if !wait.is_zero() {
        tracing::debug!(wait_ms = wait.as_millis() as u64, "pacing the public registry");
        tokio::time::sleep(wait).await;
    }
}

/// A postal address from the registry (`adresa_sediu_social`, `adresa_domiciliu_fiscal`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Address {
    pub street: String,
    pub number: String,
    pub locality: String,
    pub county: String,
    /// ANAF's county code, e.g. `40` for Bucharest.
    pub county_code: String,
    /// The county's car-plate letters, e.g. `B`.
    pub county_letters: String,
    pub country: String,
    pub details: String,
    pub postal_code: String,
}

/// A period of VAT registration (`perioade_TVA`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VatPeriod {
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    /// The date the cancellation took effect, if any.
    pub cancelled: Option<NaiveDate>,
    pub message: String,
}

/// One taxpayer from the VAT registry (v9). Dates are `YYYY-MM-DD` (absent when ANAF sends
/// an empty string); the whole record as ANAF sent it is in `raw`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Taxpayer {
    /// The CIF, digits only.
    pub cif: String,
    /// The date the answer describes (`data`).
    pub date: Option<NaiveDate>,
    /// `denumire`.
    pub name: String,
    /// `adresa`, on one line.
    pub address: String,
    /// `nrRegCom`: the trade register number.
    pub trade_register_number: String,
    pub phone: String,
    pub postal_code: String,
    /// `stare_inregistrare`, as ANAF wrote it.
    pub registration_state: String,
    pub registered_on: Option<NaiveDate>,
    pub caen_code: String,
    pub iban: String,
    /// `scpTVA`: registered for VAT on `date`.
    pub vat_payer: bool,
    pub vat_periods: Vec<VatPeriod>,
    /// `statusTvaIncasare`: applies VAT on collection (TVA la incasare).
    pub vat_on_collection: bool,
    /// `statusInactivi`: declared inactive (invoices from it are not deductible).
    pub inactive: bool,
    pub inactive_since: Option<NaiveDate>,
    pub reactivated_on: Option<NaiveDate>,
    /// `dataRadiere`: struck off.
    pub deregistered_on: Option<NaiveDate>,
    /// `statusSplitTVA`: uses split VAT.
    pub split_vat: bool,
    /// `statusRO_e_Factura`: in the RO e-Factura register.
    pub efactura_registered: bool,
    pub efactura_registered_on: Option<NaiveDate>,
    pub head_office: Address,
    pub fiscal_address: Address,
    pub raw: Value,
}

/// What the VAT registry knows of the CIFs asked about.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TaxpayerLookup {
    pub found: Vec<Taxpayer>,
    /// CIFs the registry does not know, digits only.
    pub not_found: Vec<String>,
}

/// One entry of the RO e-Factura register.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RegisterEntry {
    pub cif: String,
    /// `registru`: which register, as ANAF names it.
    pub register: String,
    /// `categorie`.
    pub category: String,
    /// `dataInscriere`.
    pub registered_on: Option<NaiveDate>,
    /// `dataRenuntare`.
    pub renounced_on: Option<NaiveDate>,
    /// `dataRadiere`.
    pub deregistered_on: Option<NaiveDate>,
    /// `dataOptiuneB2G`: since when it receives public-procurement (B2G) invoices.
    pub b2g_since: Option<NaiveDate>,
    /// `stare`, as ANAF wrote it.
    pub state: String,
    pub raw: Value,
}

/// What the RO e-Factura register knows of the CIFs asked about.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RegisterLookup {
    pub found: Vec<RegisterEntry>,
    pub not_found: Vec<String>,
}

/// The public registries, through a [`Client`] (no login needed).
#[derive(Clone, Debug)]
pub struct Public {
    pub(crate) client: Client,
}

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn flag(value: &Value, key: &str) -> bool {
    match value.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("da"),
        _ => false,
    }
}

/// ANAF writes dates as `yyyy-MM-dd` (empty when none); a few fields use `dd.MM.yyyy`.
fn date(value: &Value, key: &str) -> Option<NaiveDate> {
    let text = text(value, key);
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&text, "%d.%m.%Y"))
        .ok()
}

fn address(value: &Value, prefix: char) -> Address {
    let field = |name: &str| text(value, &format!("{prefix}{name}"));
    Address {
        street: field("denumire_Strada"),
        number: field("numar_Strada"),
        locality: field("denumire_Localitate"),
        county: field("denumire_Judet"),
        county_code: field("cod_Judet"),
        county_letters: field("cod_JudetAuto"),
        country: field("tara"),
        details: field("detalii_Adresa"),
        postal_code: field("cod_Postal"),
    }
}

fn taxpayer(raw: Value) -> Taxpayer {
    let general = raw.get("date_generale").cloned().unwrap_or(Value::Null);
    let vat = raw.get("inregistrare_scop_Tva").cloned().unwrap_or(Value::Null);
    let on_collection = raw.get("inregistrare_RTVAI").cloned().unwrap_or(Value::Null);
    let inactive = raw.get("stare_inactiv").cloned().unwrap_or(Value::Null);
    let split = raw.get("inregistrare_SplitTVA").cloned().unwrap_or(Value::Null);
    let periods = vat
        .get("perioade_TVA")
        .and_then(Value::as_array)
        .map(|periods| {
            periods
                .iter()
                .map(|p| VatPeriod {
                    start: date(p, "data_inceput_ScpTVA"),
                    end: date(p, "data_sfarsit_ScpTVA"),
                    cancelled: date(p, "data_anul_imp_ScpTVA"),
                    message: text(p, "mesaj_ScpTVA"),
                })
                .collect()
        })
        .unwrap_or_default();
    Taxpayer {
        cif: text(&general, "cui"),
        date: date(&general, "data"),
        name: text(&general, "denumire"),
        address: text(&general, "adresa"),
        trade_register_number: text(&general, "nrRegCom"),
        phone: text(&general, "telefon"),
        postal_code: text(&general, "codPostal"),
        registration_state: text(&general, "stare_inregistrare"),
        registered_on: date(&general, "data_inregistrare"),
        caen_code: text(&general, "cod_CAEN"),
        iban: text(&general, "iban"),
        vat_payer: flag(&vat, "scpTVA"),
        vat_periods: periods,
        vat_on_collection: flag(&on_collection, "statusTvaIncasare"),
        inactive: flag(&inactive, "statusInactivi"),
        inactive_since: date(&inactive, "dataInactivare"),
        reactivated_on: date(&inactive, "dataReactivare"),
        deregistered_on: date(&inactive, "dataRadiere"),
        split_vat: flag(&split, "statusSplitTVA"),
        efactura_registered: flag(&general, "statusRO_e_Factura"),
        efactura_registered_on: date(&general, "data_inreg_Reg_RO_e_Factura"),
        head_office: raw
            .get("adresa_sediu_social")
            .map(|a| address(a, 's'))
            .unwrap_or_default(),
        fiscal_address: raw
            .get("adresa_domiciliu_fiscal")
            .map(|a| address(a, 'd'))
            .unwrap_or_default(),
        raw,
    }
}

fn register_entry(raw: Value) -> RegisterEntry {
    RegisterEntry {
        cif: text(&raw, "cui"),
        register: text(&raw, "registru"),
        category: text(&raw, "categorie"),
        registered_on: date(&raw, "dataInscriere"),
        renounced_on: date(&raw, "dataRenuntare"),
        deregistered_on: date(&raw, "dataRadiere"),
        b2g_since: date(&raw, "dataOptiuneB2G"),
        state: text(&raw, "stare"),
        raw,
    }
}

/// The CIFs asked about, checked and without duplicates, in the order given.
fn checked_cifs<I, S>(cifs: I) -> Result<Vec<Cif>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut seen = BTreeSet::new();
    let mut list = Vec::new();
    for cif in cifs {
        let cif = Cif::parse(cif.as_ref())?;
        if seen.insert(cif.clone()) {
            list.push(cif);
        }
    }
    Ok(list)
}

fn today_in_romania() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Bucharest)
        .date_naive()
}

/// One answer of the VAT registry (`found`, `notFound`), read as a plain function of the
/// status and body, as the fuzz targets call it (`crate::fuzzing`).
pub(crate) fn taxpayers(status: u16, body: &[u8]) -> Result<TaxpayerLookup, Error> {
    let (found, not_found) = found_and_not_found(status, body)?;
    Ok(TaxpayerLookup {
        found: found.into_iter().map(taxpayer).collect(),
        not_found,
    })
}

/// One answer of the RO e-Factura register.
pub(crate) fn register_entries(status: u16, body: &[u8]) -> Result<RegisterLookup, Error> {
    let (found, not_found) = found_and_not_found(status, body)?;
    Ok(RegisterLookup {
        found: found.into_iter().map(register_entry).collect(),
        not_found,
    })
}

fn found_and_not_found(status: u16, body: &[u8]) -> Result<(Vec<Value>, Vec<String>), Error> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|_| Error::unexpected(status, "the registry's answer is not JSON", body))?;
    let (Some(found), Some(not_found)) = (
        answer.get("found").and_then(Value::as_array),
        answer.get("notFound").and_then(Value::as_array),
    ) else {
        return Err(match answer.get("message").and_then(Value::as_str) {
            Some(text) => Error::new(ErrorKind::UnexpectedResponse, "the registry refused the query")
                .with_status(status)
                .with_anaf_message(text),
            None => Error::unexpected(status, "the registry's answer has no found/notFound", body),
        });
    };
    let not_found = not_found
        .iter()
        .map(|v| match v {
            Value::String(s) => s.trim().to_owned(),
            other => other.to_string(),
        })
        .collect();
    Ok((found.clone(), not_found))
}

impl Public {
    /// Taxpayer data from the VAT registry (v9) for any number of CIFs (with or without
    /// `RO`), on `date` (default: today in Romania). Invalid CIFs are refused before anything
    /// is sent; duplicates are asked once.
    pub async fn lookup_taxpayers<I, S>(&self, cifs: I, date: Option<NaiveDate>) -> Result<TaxpayerLookup, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut lookup = TaxpayerLookup::default();
        for batch in checked_cifs(cifs)?.chunks(BATCH_SIZE) {
            let reply = self
                .query("api/PlatitorTvaRest/v9/tva", "public.vat_registry", batch, date)
                .await?;
            let answer = taxpayers(reply.status, &reply.body)?;
            lookup.found.extend(answer.found);
            lookup.not_found.extend(answer.not_found);
        }
        Ok(lookup)
    }

    /// Entries of the RO e-Factura register for any number of CIFs, on `date` (default:
    /// today in Romania).
    pub async fn lookup_efactura_register<I, S>(
        &self,
        cifs: I,
        date: Option<NaiveDate>,
    ) -> Result<RegisterLookup, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut lookup = RegisterLookup::default();
        for batch in checked_cifs(cifs)?.chunks(BATCH_SIZE) {
            let reply = self
                .query(
                    "api/registruroefactura/v1/interogare",
                    "public.efactura_register",
                    batch,
                    date,
                )
                .await?;
            let answer = register_entries(reply.status, &reply.body)?;
            lookup.found.extend(answer.found);
            lookup.not_found.extend(answer.not_found);
        }
        Ok(lookup)
    }

    async fn query(
        &self,
        path: &str,
        operation: &'static str,
        cifs: &[Cif],
        date: Option<NaiveDate>,
    ) -> Result<Reply, Error> {
        let day = date.unwrap_or_else(today_in_romania).format("%Y-%m-%d").to_string();
        let body: Vec<Value> = cifs
            .iter()
            .map(|cif| {
                // ANAF wants the CUI as a JSON number; a CIF has at most 13 digits.
                let number: u64 = cif.as_str().parse().unwrap_or_default();
                json!({"cui": number, "data": day})
            })
            .collect();
        let body = serde_json::to_vec(&body).map_err(|e| Error::internal("cannot encode the query").with_source(e))?;
        let url = self.client.public_url(path);
        let host = url[..url::Position::BeforePath].to_owned();
        paced(&host).await;
        let reply = self
            .client
            .send(Call::post(operation, url, body.into(), "application/json").public())
            .await?;
        // The e-Factura register answers 404 when it knows none of the CIFs, with the usual
        // body: that is a result, not a missing endpoint.
        if reply.status == 404 && reply.body.starts_with(b"{\"found\"") {
            Ok(reply)
        } else {
            reply.check()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_record_becomes_a_typed_taxpayer() {
        let raw = json!({
            "date_generale": {"cui": 8000000000u64, "data": "2026-12-01", "denumire": "FIRMA SRL",
                "adresa": "BUCURESTI", "nrRegCom": "J40/1/2020", "stare_inregistrare": "INREGISTRAT",
                "data_inregistrare": "2020-01-01", "statusRO_e_Factura": true, "data_inreg_Reg_RO_e_Factura": ""},
            "inregistrare_scop_Tva": {"scpTVA": true, "perioade_TVA": [{"data_inceput_ScpTVA": "2020-01-01",
                "data_sfarsit_ScpTVA": "", "data_anul_imp_ScpTVA": "", "mesaj_ScpTVA": ""}]},
            "inregistrare_RTVAI": {"statusTvaIncasare": false},
            "stare_inactiv": {"statusInactivi": true, "dataInactivare": "2025-03-01"},
            "inregistrare_SplitTVA": {"statusSplitTVA": false},
            "adresa_sediu_social": {"sdenumire_Strada": "Str. X", "scod_JudetAuto": "B"},
        });
        let t = taxpayer(raw);
        assert_eq!((t.cif.as_str(), t.name.as_str()), ("8000000000", "FIRMA SRL"));
        assert!(t.vat_payer && t.inactive && t.efactura_registered && !t.split_vat);
        assert_eq!(t.inactive_since, NaiveDate::from_ymd_opt(2025, 3, 1));
        assert_eq!(t.vat_periods[0].start, NaiveDate::from_ymd_opt(2020, 1, 1));
        assert_eq!(t.vat_periods[0].end, None);
        assert_eq!(
            (t.head_office.street.as_str(), t.head_office.county_letters.as_str()),
            ("Str. X", "B")
        );
        assert_eq!(t.efactura_registered_on, None);
    }

    #[test]
    fn cifs_are_checked_and_deduplicated_in_order() {
        let cifs = checked_cifs(["RO8000000000", "12345674", "8000000000"]).unwrap();
        assert_eq!(
            cifs.iter().map(Cif::as_str).collect::<Vec<_>>(),
            ["8000000000", "12345674"]
        );
        assert_eq!(checked_cifs(["12345678"]).unwrap_err().field(), Some("cif"));
    }
}
