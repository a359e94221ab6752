//! Everything the sandbox remembers, behind one lock. Handlers take the lock, do a short
//! synchronous step and release it; nothing awaits while holding it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::SandboxOptions;
use crate::clock::Clock;
use crate::limits::Counters;
use crate::model::{Application, CompanySpec, Env, FaultSpec, HistoryEntry, Identity, RequestLogEntry, Service};
use crate::{efactura, etransport};

/// How many request-log entries are kept (the oldest are dropped first), so a long load test
/// does not grow the sandbox without bound.
pub const REQUEST_LOG_CAPACITY: usize = 50_000;

#[derive(Debug)]
pub(crate) struct Shared {
    pub clock: Clock,
    pub options: SandboxOptions,
    pub state: Mutex<State>,
    pub base_url: String,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a sandbox bug; keep serving rather than cascade.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub apps: BTreeMap<String, Application>,
    pub history: Vec<HistoryEntry>,
    pub identities: BTreeMap<String, Identity>,
    /// Companies the sandbox knows, with their registry facts: buyers that receive invoices,
    /// sellers that pass the "CIF in the database" check.
    pub companies: BTreeMap<String, CompanySpec>,
    /// CIFs in the "Registrul RO e-Factura executari silite" (for `executare=DA`).
    pub enforcement_register: BTreeSet<String>,
    pub codes: HashMap<String, CodeGrant>,
    pub tokens: HashMap<String, TokenRecord>,
    pub next_grant: u64,
    pub default_client_id: String,
    /// The default application as registered, kept even if it is deleted.
    pub default_app: Option<Application>,
    pub default_serial: String,
    pub efactura: efactura::Store,
    pub etransport: etransport::Store,
    pub counters: Counters,
    pub faults: Vec<FaultSpec>,
    pub requests: VecDeque<RequestLogEntry>,
    /// Bytes of upload bodies held, and which bodies in arrival order (for eviction).
    pub stored_bytes: u64,
    pub stored_bodies: VecDeque<(BodyKey, usize)>,
}

/// Which stored upload a body belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKey {
    Efactura(Env, u64),
    Etransport(Env, u64),
}

impl State {
    pub fn log(&mut self, entry: RequestLogEntry) {
        if self.requests.len() == REQUEST_LOG_CAPACITY {
            self.requests.pop_front();
        }
        self.requests.push_back(entry);
    }

    /// CIFs the sandbox treats as existing companies.
    pub fn company_known(&self, cif: &str) -> bool {
        self.companies.contains_key(cif) || self.identities.values().any(|i| i.cifs.contains(cif))
    }

    pub fn company_name(&self, cif: &str) -> String {
        self.companies
            .get(cif)
            .map(|c| c.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("COMPANIA {cif} SRL"))
    }

    /// The registry facts of a known company (defaults for one known only through an
    /// identity's rights); `None` for an unknown CIF.
    pub fn company(&self, cif: &str) -> Option<CompanySpec> {
        if let Some(company) = self.companies.get(cif) {
            return Some(company.clone());
        }
        self.company_known(cif)
            .then(|| CompanySpec::new(cif, self.company_name(cif)))
    }

    /// Counts a newly stored body and, while the total is over `max`, drops the oldest bodies
    /// (their uploads keep their state and messages).
    pub fn remember_body(&mut self, key: BodyKey, size: usize, max: u64) {
        self.stored_bytes += size as u64;
        self.stored_bodies.push_back((key, size));
        while self.stored_bytes > max {
            let Some((key, size)) = self.stored_bodies.pop_front() else {
                break;
            };
            self.stored_bytes -= size as u64;
            match key {
                BodyKey::Efactura(env, index) => {
                    if let Some(upload) = self.efactura.uploads.get_mut(&(env, index)) {
                        upload.body = bytes::Bytes::new();
                        upload.evicted = true;
                    }
                }
                BodyKey::Etransport(env, index) => {
                    if let Some(declaration) = self.etransport.declarations.get_mut(&(env, index)) {
                        declaration.body = bytes::Bytes::new();
                        declaration.evicted = true;
                    }
                }
            }
        }
    }

    /// Takes the next fault that applies to `endpoint`, counting down its `times`.
    pub fn take_fault(&mut self, endpoint: &str) -> Option<crate::model::Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.endpoint == endpoint || f.endpoint == "*")?;
        let spec = &mut self.faults[index];
        let fault = spec.fault.clone();
        match &mut spec.times {
            Some(1) => {
                self.faults.remove(index);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(fault)
    }
}

/// An authorization code handed to the redirect URI.
#[derive(Clone, Debug)]
pub(crate) struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub serial: String,
    pub issued_at: DateTime<Utc>,
    pub jwt: bool,
    pub used: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Access,
    Refresh,
}

/// An issued token, keyed in [`State::tokens`] by its full text.
#[derive(Clone, Debug)]
pub(crate) struct TokenRecord {
    pub kind: TokenKind,
    pub client_id: String,
    pub serial: String,
    /// Tokens descending from one authorization share a grant (revoking a refresh token
    /// revokes the grant, RFC 7009 §2.1).
    pub grant: u64,
    pub jwt: bool,
    /// `iat` and `nbf`.
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// Who is calling an API, once the Bearer token checked out.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub serial: String,
    pub client_id: String,
}

impl State {
    pub fn identity(&self, caller: &Caller) -> Option<&Identity> {
        self.identities.get(&caller.serial)
    }

    /// Why `caller` may not use `service`, in the seed's terms (user rights vs. application
    /// enrolment); `None` when access is granted.
    pub fn service_denial(&self, caller: &Caller, service: Service) -> Option<String> {
        let app_enrolled = self
            .apps
            .get(&caller.client_id)
            .is_some_and(|a| a.services.contains(&service));
        let user_has_right = self
            .identities
            .get(&caller.serial)
            .is_some_and(|i| i.services.contains(&service));
        match (user_has_right, app_enrolled) {
            (true, true) => None,
            (false, true) => Some(format!(
                "the user (certificate {}) has no right on {}",
                caller.serial,
                service.portal_name()
            )),
            (true, false) => Some(format!("the application is not enrolled for {}", service.portal_name())),
            (false, false) => Some(format!(
                "neither the user nor the application has access to {}",
                service.portal_name()
            )),
        }
    }

    /// The CIF-right check every business endpoint makes. `Err` holds which of ANAF's two
    /// texts applies: no CIF at all, or not this one.
    pub fn cif_right(&self, caller: &Caller, cif: &str) -> Result<(), CifDenial> {
        let cifs = self.identity(caller).map(|i| &i.cifs);
        match cifs {
            Some(cifs) if cifs.contains(cif) => Ok(()),
            Some(cifs) if !cifs.is_empty() => Err(CifDenial::NotThis),
            _ => Err(CifDenial::NoneAtAll),
        }
    }

    pub fn caller_cifs(&self, caller: &Caller) -> Vec<String> {
        self.identity(caller)
            .map(|i| i.cifs.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CifDenial {
    NoneAtAll,
    NotThis,
}
