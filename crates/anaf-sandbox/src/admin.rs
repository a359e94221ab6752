//! Administration of the sandbox: what the ANAF portal's "Profil OAuth" pages do (register an
//! application, list them, history, "Renuntare OAuth"), plus identities, faults, the clock and
//! inspection. One implementation serves the Rust API ([`crate::Sandbox`]) and the HTTP API
//! under `/_sandbox/` (a prefix no ANAF path can have).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::endpoint::Endpoint;
use crate::keys::random_hex;
use crate::model::{
    AppSpec, Application, CompanySpec, Env, Fault, FaultSpec, HistoryAction, HistoryEntry, Identity, IdentitySpec,
    RequestLogEntry, SandboxInfo, UploadRecord,
};
use crate::state::Shared;
use crate::{SandboxError, codes, oauth};

/// A code obtained without a browser, and the URL the browser would have been sent to.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code: String,
    pub redirect_url: String,
}

impl std::fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorizationCode { code: <redacted>, .. }")
    }
}

/// Parameters of a non-interactive authorization.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub serial: String,
    #[serde(default)]
    pub state: Option<String>,
    /// `jwt` for JWT tokens (what every current client asks for); anything else: opaque.
    #[serde(default = "jwt")]
    pub token_content_type: String,
}

fn jwt() -> String {
    "jwt".into()
}

/// Received invoices to create for a company (see [`crate::Sandbox::seed_received_invoices`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeedRequest {
    pub cif: String,
    pub count: u32,
    #[serde(default)]
    pub supplier_cif: Option<String>,
    #[serde(default)]
    pub days_back: u32,
    #[serde(default = "test_env")]
    pub env: Env,
}

fn test_env() -> Env {
    Env::Test
}

/// Bounds on what the admin API accepts, so a test cannot make the sandbox hold or echo
/// absurd values.
pub(crate) mod bounds {
    /// Names of applications, identities and companies, in characters.
    pub const NAME: usize = 200;
    /// Certificate serials (real ones are at most 40 hex digits).
    pub const SERIAL: usize = 64;
    /// CIFs: 2 to 10 digits; 13 for a CNP (an individual).
    pub const CIF_DIGITS: std::ops::RangeInclusive<usize> = 2..=13;
    /// CIFs one identity may represent.
    pub const CIFS: usize = 1000;
    /// Callback URLs per application, and the length of each (and of other URLs and texts
    /// that end up in a header).
    pub const URIS: usize = 20;
    pub const URI: usize = 2000;
    /// The `state` of a non-interactive authorization.
    pub const STATE: usize = 2000;
    /// Bodies of `status` and `reply` faults.
    pub const FAULT_BODY: usize = 1024 * 1024;
    /// A `latency` fault: at most ten minutes.
    pub const LATENCY_MS: u64 = 600_000;
    /// Faults pending at once, applications, identities, companies.
    pub const FAULTS: usize = 1000;
    pub const ENTRIES: usize = 10_000;
}

fn invalid(message: String) -> SandboxError {
    SandboxError::InvalidInput(message)
}

/// A name: not blank, at most [`bounds::NAME`] characters, no control characters.
fn check_name(what: &str, name: &str) -> Result<(), SandboxError> {
    if name.trim().is_empty() {
        return Err(invalid(format!("{what} is required")));
    }
    if name.chars().count() > bounds::NAME {
        return Err(invalid(format!("{what} is longer than {} characters", bounds::NAME)));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(format!("{what} contains control characters")));
    }
    Ok(())
}

/// A CIF as ANAF's parameters take it: digits only (no `RO`), 2 to 13 of them.
fn check_cif_digits(cif: &str) -> Result<(), SandboxError> {
    if !cif.bytes().all(|b| b.is_ascii_digit()) || !bounds::CIF_DIGITS.contains(&cif.len()) {
        let shown: String = cif.chars().take(20).collect();
        let more = if cif.chars().count() > 20 { "..." } else { "" };
        return Err(invalid(format!(
            "CIF {shown:?}{more} must be 2 to 13 digits (no RO prefix)"
        )));
    }
    Ok(())
}

/// A CIF of a company: digits with a valid control digit.
fn check_company_cif(cif: &str) -> Result<(), SandboxError> {
    check_cif_digits(cif)?;
    if !codes::cif_is_valid(cif) {
        return Err(invalid(format!("{cif} is not a valid CIF (control digit)")));
    }
    Ok(())
}

fn check_serial(serial: &str) -> Result<(), SandboxError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_');
    if serial.len() > bounds::SERIAL || !serial.chars().all(allowed) {
        let shown: String = serial.chars().take(20).collect();
        return Err(invalid(format!(
            "certificate serial {shown:?}... must be at most {} letters, digits, ':', '-' or '_'",
            bounds::SERIAL
        )));
    }
    Ok(())
}

/// Text that goes into an HTTP header: at most [`bounds::URI`] characters, no line breaks.
fn check_header_text(what: &str, value: &str) -> Result<(), SandboxError> {
    if value.is_empty() || value.len() > bounds::URI || axum::http::HeaderValue::from_str(value).is_err() {
        return Err(invalid(format!(
            "{what} must be 1 to {} characters of header-safe text",
            bounds::URI
        )));
    }
    Ok(())
}

fn check_status(status: u16) -> Result<(), SandboxError> {
    if !(100..=599).contains(&status) {
        return Err(invalid(format!("HTTP status {status} is not in 100..=599")));
    }
    Ok(())
}

fn check_fault_body(body: &str) -> Result<(), SandboxError> {
    if body.len() > bounds::FAULT_BODY {
        return Err(invalid(format!("a fault body is at most {} bytes", bounds::FAULT_BODY)));
    }
    Ok(())
}

fn check_fault(fault: &Fault) -> Result<(), SandboxError> {
    match fault {
        Fault::Latency { ms } if *ms > bounds::LATENCY_MS => Err(invalid(format!(
            "latency {ms} ms is more than {} ms",
            bounds::LATENCY_MS
        ))),
        Fault::Status { status, body } => {
            check_status(*status)?;
            check_fault_body(body.as_deref().unwrap_or_default())
        }
        Fault::Reply {
            status,
            content_type,
            body,
        } => {
            check_status(*status)?;
            check_header_text("content_type", content_type)?;
            check_fault_body(body)
        }
        Fault::Redirect { location } => check_header_text("location", location),
        Fault::Latency { .. } | Fault::Reset | Fault::WafBlock | Fault::AcceptThenDrop | Fault::EndlessBody => Ok(()),
    }
}

impl Shared {
    pub fn register_app(&self, spec: AppSpec) -> Result<Application, SandboxError> {
        check_name("Denumire aplicatie", &spec.name)?;
        if spec.redirect_uris.is_empty() {
            return Err(SandboxError::InvalidInput(
                "at least one Callback URL is required".into(),
            ));
        }
        if spec.redirect_uris.len() > bounds::URIS {
            return Err(invalid(format!("at most {} Callback URLs", bounds::URIS)));
        }
        for uri in &spec.redirect_uris {
            check_header_text("a Callback URL", uri)?;
            if !uri.starts_with("https://") || uri.contains(char::is_whitespace) {
                // The portal accepts HTTPS callbacks only.
                return Err(SandboxError::InvalidInput(format!(
                    "callback URL {uri} is not https://"
                )));
            }
        }
        if spec.services.is_empty() {
            return Err(SandboxError::InvalidInput(
                "choose at least one service (E-Factura, E-Transport)".into(),
            ));
        }
        let now = self.now();
        let app = Application {
            name: spec.name,
            client_id: random_hex(24),
            client_secret: random_hex(32),
            redirect_uris: spec.redirect_uris,
            services: spec.services.into_iter().collect(),
            created_at: now,
        };
        let mut state = self.lock();
        if state.apps.len() >= bounds::ENTRIES {
            return Err(invalid(format!("at most {} applications", bounds::ENTRIES)));
        }
        state.history.push(HistoryEntry {
            at: now,
            action: HistoryAction::Created,
            application: app.name.clone(),
            client_id: app.client_id.clone(),
            services: app.services.clone(),
        });
        state.apps.insert(app.client_id.clone(), app.clone());
        Ok(app)
    }

    /// "Renuntare OAuth": the application is gone and its tokens stop working.
    pub fn delete_app(&self, client_id: &str) -> Result<(), SandboxError> {
        let now = self.now();
        let mut state = self.lock();
        let app = state
            .apps
            .remove(client_id)
            .ok_or_else(|| SandboxError::NotFound(format!("application {client_id}")))?;
        state.history.push(HistoryEntry {
            at: now,
            action: HistoryAction::Deleted,
            application: app.name,
            client_id: app.client_id,
            services: app.services,
        });
        Ok(())
    }

    pub fn add_identity(&self, spec: IdentitySpec) -> Result<Identity, SandboxError> {
        check_name("the identity's name", &spec.name)?;
        if spec.cifs.len() > bounds::CIFS {
            return Err(invalid(format!("an identity represents at most {} CIFs", bounds::CIFS)));
        }
        for cif in &spec.cifs {
            check_cif_digits(cif)?;
        }
        let serial = spec
            .serial
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| random_hex(16).to_uppercase());
        check_serial(&serial)?;
        if self.lock().identities.len() >= bounds::ENTRIES {
            return Err(invalid(format!("at most {} identities", bounds::ENTRIES)));
        }
        let identity = Identity {
            serial: serial.clone(),
            name: spec.name,
            cifs: spec.cifs.into_iter().collect(),
            services: spec.services.into_iter().collect(),
        };
        self.lock().identities.insert(serial, identity.clone());
        Ok(identity)
    }

    pub fn set_company(&self, spec: CompanySpec) -> Result<(), SandboxError> {
        check_company_cif(&spec.cif)?;
        if !spec.name.is_empty() {
            check_name("the company's name", &spec.name)?;
        }
        let mut state = self.lock();
        if state.companies.len() >= bounds::ENTRIES && !state.companies.contains_key(&spec.cif) {
            return Err(invalid(format!("at most {} companies", bounds::ENTRIES)));
        }
        state.companies.insert(spec.cif.clone(), spec);
        Ok(())
    }

    pub fn add_enforcement_cif(&self, cif: &str) -> Result<(), SandboxError> {
        check_cif_digits(cif)?;
        let mut state = self.lock();
        if state.enforcement_register.len() >= bounds::ENTRIES {
            return Err(invalid(format!("at most {} CIFs in the register", bounds::ENTRIES)));
        }
        state.enforcement_register.insert(cif.to_owned());
        Ok(())
    }

    pub fn authorize(&self, request: &AuthorizeRequest) -> Result<AuthorizationCode, SandboxError> {
        if request.state.as_deref().is_some_and(|s| s.len() > bounds::STATE) {
            return Err(invalid(format!("state is longer than {} bytes", bounds::STATE)));
        }
        let now = self.now();
        let mut state = self.lock();
        let code = oauth::issue_code(
            &mut state,
            now,
            &request.client_id,
            &request.redirect_uri,
            &request.serial,
            request.token_content_type == "jwt",
        )
        .map_err(SandboxError::InvalidInput)?;
        let mut params = vec![("code", code.as_str())];
        if let Some(s) = request.state.as_deref() {
            params.push(("state", s));
        }
        let redirect_url = oauth::redirect_with(&request.redirect_uri, &params);
        Ok(AuthorizationCode { code, redirect_url })
    }

    pub fn inject_fault(&self, spec: FaultSpec) -> Result<(), SandboxError> {
        if spec.endpoint != "*" && Endpoint::from_name(&spec.endpoint).is_none() {
            let names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
            return Err(SandboxError::InvalidInput(format!(
                "unknown endpoint {:?}; known: {}",
                spec.endpoint,
                names.join(", ")
            )));
        }
        if spec.times == Some(0) {
            return Err(SandboxError::InvalidInput(
                "times must be at least 1 (or absent for always)".into(),
            ));
        }
        check_fault(&spec.fault)?;
        let mut state = self.lock();
        if state.faults.len() >= bounds::FAULTS {
            return Err(invalid(format!("at most {} faults pending at once", bounds::FAULTS)));
        }
        state.faults.push(spec);
        Ok(())
    }

    pub fn uploads(&self, cif: Option<&str>) -> Vec<UploadRecord> {
        let now = self.now();
        let state = self.lock();
        let mut records = state.efactura.records(cif, now);
        records.extend(state.etransport.records(cif, now));
        records.sort_by_key(|r| (r.received_at, r.upload_id));
        records
    }

    pub fn seed(&self, request: &SeedRequest) -> Result<Vec<u64>, SandboxError> {
        if request.count > 100_000 || request.days_back > 60 {
            return Err(SandboxError::InvalidInput(
                "seed at most 100000 invoices, at most 60 days back (ANAF keeps messages 60 days)".into(),
            ));
        }
        let supplier = request.supplier_cif.clone().unwrap_or_else(|| "33333338".into());
        for cif in [&request.cif, &supplier] {
            check_company_cif(cif)?;
        }
        let now = self.now();
        let mut state = self.lock();
        state
            .companies
            .entry(supplier.clone())
            .or_insert_with(|| CompanySpec::new(supplier.as_str(), format!("FURNIZOR {supplier} SRL")));
        Ok(crate::efactura::seed_received(
            &mut state,
            now,
            request,
            &supplier,
            self.options.max_stored_bytes,
        ))
    }

    pub fn info(&self) -> SandboxInfo {
        let state = self.lock();
        SandboxInfo {
            base_url: self.base_url.clone(),
            // After "Renuntare OAuth" on the default application its credentials are still
            // reported (they just stop working).
            application: state
                .apps
                .get(&state.default_client_id)
                .or(state.default_app.as_ref())
                .cloned()
                .expect("the default application is recorded at start"),
            identity: state
                .identities
                .get(&state.default_serial)
                .cloned()
                .expect("the default identity"),
        }
    }
}

type Shared_ = State<Arc<Shared>>;

pub(crate) async fn info(State(s): Shared_) -> Json<SandboxInfo> {
    Json(s.info())
}

fn reply<T: Serialize>(result: Result<T, SandboxError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(SandboxError::NotFound(m)) => (StatusCode::NOT_FOUND, Json(json!({"error": m}))).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e.to_string()}))).into_response(),
    }
}

/// Reads a JSON body, answering a clear 400 instead of axum's default rejection text.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, SandboxError> {
    serde_json::from_slice(body).map_err(|e| SandboxError::InvalidInput(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
struct CompanyBody {
    cif: String,
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: u64,
}

#[derive(Deserialize)]
struct OffsetBody {
    seconds: i64,
}

#[derive(Deserialize)]
struct CifQuery {
    cif: Option<String>,
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(info))
        .route(
            "/apps",
            get(|State(s): Shared_| async move { Json(s.lock().apps.values().cloned().collect::<Vec<_>>()) }).post(
                |State(s): Shared_, body: axum::body::Bytes| async move {
                    reply(parse(&body).and_then(|spec| s.register_app(spec)))
                },
            ),
        )
        .route(
            "/apps/{client_id}",
            delete(
                |State(s): Shared_, Path(id): Path<String>| async move { reply(s.delete_app(&id).map(|()| json!({}))) },
            ),
        )
        .route(
            "/history",
            get(|State(s): Shared_| async move { Json(s.lock().history.clone()) }),
        )
        .route(
            "/identities",
            get(|State(s): Shared_| async move { Json(s.lock().identities.values().cloned().collect::<Vec<_>>()) })
                .post(|State(s): Shared_, body: axum::body::Bytes| async move {
                    reply(parse(&body).and_then(|spec| s.add_identity(spec)))
                }),
        )
        .route(
            "/companies",
            get(|State(s): Shared_| async move { Json(s.lock().companies.values().cloned().collect::<Vec<_>>()) })
                .post(|State(s): Shared_, body: axum::body::Bytes| async move {
                    reply(parse::<CompanySpec>(&body).and_then(|c| s.set_company(c).map(|()| json!({}))))
                }),
        )
        .route(
            "/enforcement-register",
            post(|State(s): Shared_, body: axum::body::Bytes| async move {
                reply(parse::<CompanyBody>(&body).and_then(|c| s.add_enforcement_cif(&c.cif).map(|()| json!({}))))
            }),
        )
        .route(
            "/authorize",
            post(|State(s): Shared_, body: axum::body::Bytes| async move {
                reply(parse::<AuthorizeRequest>(&body).and_then(|r| s.authorize(&r)))
            }),
        )
        .route(
            "/faults",
            get(|State(s): Shared_| async move { Json(s.lock().faults.clone()) })
                .post(|State(s): Shared_, body: axum::body::Bytes| async move {
                    reply(
                        parse::<FaultSpec>(&body)
                            .and_then(|f| s.inject_fault(f))
                            .map(|()| json!({})),
                    )
                })
                .delete(|State(s): Shared_| async move {
                    s.lock().faults.clear();
                    Json(json!({}))
                }),
        )
        .route(
            "/clock",
            get(|State(s): Shared_| async move {
                Json(json!({"now": s.now(), "offset_seconds": s.clock.offset().num_seconds()}))
            }),
        )
        .route(
            "/clock/advance",
            post(|State(s): Shared_, body: axum::body::Bytes| async move {
                reply(parse::<AdvanceBody>(&body).map(|a| {
                    s.clock.advance(Duration::from_secs(a.seconds));
                    json!({"now": s.now()})
                }))
            }),
        )
        .route(
            "/clock/offset",
            post(|State(s): Shared_, body: axum::body::Bytes| async move {
                reply(parse::<OffsetBody>(&body).map(|o| {
                    s.clock
                        .set_offset(chrono::Duration::try_seconds(o.seconds).unwrap_or(if o.seconds < 0 {
                            chrono::Duration::MIN
                        } else {
                            chrono::Duration::MAX
                        }));
                    json!({"now": s.now()})
                }))
            }),
        )
        .route(
            "/uploads",
            get(|State(s): Shared_, Query(q): Query<CifQuery>| async move { Json(s.uploads(q.cif.as_deref())) }),
        )
        .route(
            "/requests",
            get(|State(s): Shared_| async move {
                Json(s.lock().requests.iter().cloned().collect::<Vec<RequestLogEntry>>())
            }),
        )
        .route(
            "/efactura/seed",
            post(|State(s): Shared_, body: axum::body::Bytes| async move {
                reply(
                    parse::<SeedRequest>(&body)
                        .and_then(|r| s.seed(&r))
                        .map(|ids| json!({"upload_ids": ids})),
                )
            }),
        )
        .route(
            "/certificate",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/x-pem-file")],
                    crate::keys::certificate_pem(),
                )
            }),
        )
}
