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
    AppSpec, Application, Env, FaultSpec, HistoryAction, HistoryEntry, Identity, IdentitySpec, RequestLogEntry,
    SandboxInfo, UploadRecord,
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

impl Shared {
    pub fn register_app(&self, spec: AppSpec) -> Result<Application, SandboxError> {
        if spec.name.trim().is_empty() {
            return Err(SandboxError::InvalidInput("Denumire aplicatie is required".into()));
        }
        if spec.redirect_uris.is_empty() {
            return Err(SandboxError::InvalidInput(
                "at least one Callback URL is required".into(),
            ));
        }
        if let Some(uri) = spec.redirect_uris.iter().find(|u| !u.starts_with("https://")) {
            // The portal accepts HTTPS callbacks only.
            return Err(SandboxError::InvalidInput(format!(
                "callback URL {uri} is not https://"
            )));
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
        if let Some(bad) = spec
            .cifs
            .iter()
            .find(|c| c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(SandboxError::InvalidInput(format!(
                "CIF {bad:?} must be digits only (no RO prefix)"
            )));
        }
        let serial = spec
            .serial
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| random_hex(16).to_uppercase());
        let identity = Identity {
            serial: serial.clone(),
            name: spec.name,
            cifs: spec.cifs.into_iter().collect(),
            services: spec.services.into_iter().collect(),
        };
        self.lock().identities.insert(serial, identity.clone());
        Ok(identity)
    }

    pub fn add_company(&self, cif: &str, name: &str) -> Result<(), SandboxError> {
        if !codes::cif_is_valid(cif) {
            return Err(SandboxError::InvalidInput(format!(
                "{cif} is not a valid CIF (control digit)"
            )));
        }
        self.lock().companies.insert(cif.to_owned(), name.to_owned());
        Ok(())
    }

    pub fn authorize(&self, request: &AuthorizeRequest) -> Result<AuthorizationCode, SandboxError> {
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
        self.lock().faults.push(spec);
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
            if !codes::cif_is_valid(cif) {
                return Err(SandboxError::InvalidInput(format!(
                    "{cif} is not a valid CIF (control digit)"
                )));
            }
        }
        let now = self.now();
        let mut state = self.lock();
        state
            .companies
            .entry(supplier.clone())
            .or_insert_with(|| format!("FURNIZOR {supplier} SRL"));
        Ok(crate::efactura::seed_received(
            &mut state,
            now,
            request.env,
            &request.cif,
            &supplier,
            request.count,
            request.days_back,
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
    #[serde(default)]
    name: Option<String>,
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
            post(|State(s): Shared_, body: axum::body::Bytes| async move {
                reply(parse::<CompanyBody>(&body).and_then(|c| {
                    let name = c.name.unwrap_or_else(|| format!("COMPANIA {} SRL", c.cif));
                    s.add_company(&c.cif, &name).map(|()| json!({}))
                }))
            }),
        )
        .route(
            "/enforcement-register",
            post(|State(s): Shared_, body: axum::body::Bytes| async move {
                reply(parse::<CompanyBody>(&body).map(|c| {
                    s.lock().enforcement_register.insert(c.cif);
                    json!({})
                }))
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
