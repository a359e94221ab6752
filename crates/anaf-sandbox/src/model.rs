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
    pub size: usize,
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
