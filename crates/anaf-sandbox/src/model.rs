//! The objects the sandbox models, as seen through its Rust and HTTP admin APIs: registered
//! applications ("Profil OAuth" in the ANAF portal), identities (a qualified certificate's
//! serial with SPV rights on companies), the portal's operations history, faults, and what the
//! sandbox received.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An ANAF service an application enrols for and a user has rights on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Service {
    #[serde(rename = "E-Factura", alias = "EFACTURA", alias = "efactura")]
    EFactura,
    #[serde(rename = "E-Transport", alias = "ETRANSPORT", alias = "etransport")]
    ETransport,
}

impl Service {
    pub const ALL: [Service; 2] = [Service::EFactura, Service::ETransport];

    /// The name the IdP puts in the JWT `role` claim.
    pub fn role(self) -> &'static str {
        match self {
            Service::EFactura => "EFACTURA",
            Service::ETransport => "ETRANSPORT",
        }
    }

    /// The name the portal shows.
    pub fn portal_name(self) -> &'static str {
        match self {
            Service::EFactura => "E-Factura",
            Service::ETransport => "E-Transport",
        }
    }
}

/// ANAF's two API environments. They share the IdP but hold separate data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    Test,
    Prod,
}

impl Env {
    pub fn parse(segment: &str) -> Option<Env> {
        match segment {
            "test" => Some(Env::Test),
            "prod" => Some(Env::Prod),
            _ => None,
        }
    }
}

/// What the portal's "Gestionare aplicatii" form asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub services: Vec<Service>,
}

/// A registered application with the credentials the portal generated for it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    pub services: BTreeSet<Service>,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for Application {
    // Even test credentials are kept out of logs, so a habit never leaks a real one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Application")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uris", &self.redirect_uris)
            .field("services", &self.services)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A user: the serial of a qualified certificate enrolled in SPV (Spatiul Privat Virtual,
/// ANAF's online taxpayer space) with rights on some companies (CIFs) and services.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentitySpec {
    /// Certificate serial; generated when absent.
    #[serde(default)]
    pub serial: Option<String>,
    pub name: String,
    pub cifs: Vec<String>,
    pub services: Vec<Service>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub serial: String,
    pub name: String,
    pub cifs: BTreeSet<String>,
    pub services: BTreeSet<Service>,
}

/// One line of the portal's "Istoric" page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub action: HistoryAction,
    pub application: String,
    pub client_id: String,
    /// "Serviciu": the services the application was enrolled for.
    pub services: BTreeSet<Service>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryAction {
    Created,
    Deleted,
}

/// A fault the sandbox injects into the next matching requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Wait this long before handling the request.
    Latency { ms: u64 },
    /// Answer with this HTTP status (and body) instead of handling the request.
    Status {
        status: u16,
        #[serde(default)]
        body: Option<String>,
    },
    /// Reset the TCP connection without answering.
    Reset,
    /// Answer like ANAF's F5 firewall does: HTTP 200, an HTML page with a support ID.
    WafBlock,
    /// Handle the request (an upload is stored and will be processed), then drop the
    /// connection before the answer is sent: the case that tempts clients to upload twice.
    AcceptThenDrop,
    /// Answer HTTP 200 `application/octet-stream` with a body that never ends: chunks are
    /// sent until the client goes away (for clients' body-size and read-timeout limits).
    EndlessBody,
    /// Answer with exactly this status, `Content-Type` and body instead of handling the
    /// request (an HTML or JSON page where ANAF's answer was expected, say).
    Reply {
        status: u16,
        content_type: String,
        body: String,
    },
    /// Answer HTTP 302 with this `Location` (e.g. `/my.policy`, the F5 login wall).
    Redirect { location: String },
}

/// Which requests a fault applies to, and how many times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// An endpoint name such as `efactura.upload` (see [`crate::Endpoint`]), or `*` for all.
    pub endpoint: String,
    pub fault: Fault,
    /// How many matching requests to affect; absent means every one until cleared.
    #[serde(default)]
    pub times: Option<u32>,
}

/// Something uploaded to e-Factura or e-Transport, as received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub env: Env,
    pub service: Service,
    /// `index_incarcare`.
    pub upload_id: u64,
    /// The `cif` the upload was made for.
    pub cif: String,
    pub standard: String,
    pub b2c: bool,
    /// Size of the body as received.
    pub size: usize,
    /// Whether the body was dropped to keep the stored uploads within
    /// [`SandboxOptions::max_stored_bytes`](crate::SandboxOptions::max_stored_bytes): the
    /// upload's state and messages remain, its download answers ANAF's "no invoice" text.
    #[serde(default)]
    pub evicted: bool,
    /// Hex SHA-256 of the body as received.
    pub sha256: String,
    pub received_at: DateTime<Utc>,
    /// Invoice number (`cbc:ID`) when the body is an invoice.
    pub document_number: Option<String>,
    /// The UIT issued for an e-Transport declaration.
    pub uit: Option<String>,
    /// `ok`, `nok`, `XML cu erori nepreluat de sistem`, or `in prelucrare` while processing.
    pub state: String,
}

/// One request the sandbox answered. Holds no secret: query values that could carry one are
/// replaced, and bodies are not recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogEntry {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub endpoint: Option<String>,
    pub status: u16,
    pub client_id: Option<String>,
    pub serial: Option<String>,
    /// For the token endpoint: the grant type; for faults: which fault was applied.
    pub detail: Option<String>,
}

/// The sandbox's default application and identity, and where it listens.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub base_url: String,
    pub application: Application,
    pub identity: Identity,
}

/// A company as the public registries describe it (webservicesp.anaf.ro's VAT registry and the
/// RO e-Factura register). A known company also receives invoices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompanySpec {
    /// CIF, digits only, with a valid control digit.
    pub cif: String,
    /// `denumire`; `COMPANIA {cif} SRL` when empty.
    pub name: String,
    /// Registered for VAT (`scpTVA`, one open period in `perioade_TVA`).
    pub vat_payer: bool,
    /// In the register of VAT on collection (`statusTvaIncasare`).
    pub vat_on_collection: bool,
    /// Declared inactive (`statusInactivi`).
    pub inactive: bool,
    /// In the split-VAT register (`statusSplitTVA`).
    pub split_vat: bool,
    /// In the RO e-Factura register (`statusRO_e_Factura`, and found by
    /// `/api/registruroefactura/v1/interogare`).
    pub efactura_registered: bool,
    /// The date each status above started (the registries' `data...` fields).
    pub since: chrono::NaiveDate,
}

impl Default for CompanySpec {
    fn default() -> Self {
        CompanySpec {
            cif: String::new(),
            name: String::new(),
            vat_payer: true,
            vat_on_collection: false,
            inactive: false,
            split_vat: false,
            efactura_registered: true,
            since: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("a valid date"),
        }
    }
}

impl CompanySpec {
    /// A VAT payer in the RO e-Factura register, with no other status: what the sandbox
    /// reports for a company nobody described.
    pub fn new(cif: impl Into<String>, name: impl Into<String>) -> CompanySpec {
        CompanySpec {
            cif: cif.into(),
            name: name.into(),
            ..CompanySpec::default()
        }
    }
}
