//! `anaf-sandbox`: a faithful offline emulator of ANAF's OAuth identity provider
//! (logincert.anaf.ro) and APIs (api.anaf.ro: RO e-Factura, RO e-Transport, TestOauth;
//! webservicesp.anaf.ro: validation, XML-to-PDF, signature check, the VAT registry and the RO
//! e-Factura register).
//!
//! One loopback server answers every path of every host, so a client only swaps its base URL.
//! Start it in-process with [`Sandbox::start`] (an ephemeral port; dropping the handle stops
//! it) or run the `anaf-sandbox` binary.
//!
//! ```no_run
//! let sandbox = anaf_sandbox::Sandbox::start(anaf_sandbox::SandboxOptions::default()).unwrap();
//! let info = sandbox.info();
//! println!("{} {}", info.base_url, info.application.client_id);
//! ```

// Handler helpers return an early answer as `Err(Response)`; boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod admin;
mod body;
pub mod cli;
mod clock;
mod codes;
mod efactura;
mod endpoint;
mod envelopes;
mod etransport;
mod extract;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hello;
mod keys;
mod limits;
mod model;
mod oauth;
mod router;
pub mod samples;
mod server;
mod settings;
mod state;
mod xml;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use admin::{AuthorizationCode, AuthorizeRequest, SeedRequest};
pub use endpoint::Endpoint;
pub use keys::certificate_pem;
pub use limits::DailyLimits;
pub use model::{
    AppSpec, Application, CompanySpec, Env, Fault, FaultSpec, HistoryAction, HistoryEntry, Identity, IdentitySpec,
    RequestLogEntry, SandboxInfo, Service, UploadRecord,
};
pub use settings::SandboxSettings;

use state::{Shared, State};

/// What `/anaf-oauth2/v1/revoke` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RevokeBehaviour {
    /// RFC 7009: the token (and, for a refresh token, its whole grant) stops working.
    #[default]
    Rfc7009,
    /// What the real endpoint was observed to do: redirect to the F5 login wall (`/my.policy`).
    LoginWall,
}

/// How the sandbox behaves. Defaults follow ANAF's documented values. Every field has a
/// chainable setter of the same name:
///
/// ```
/// use anaf_sandbox::{RevokeBehaviour, SandboxOptions};
///
/// let options = SandboxOptions::instant().revoke(RevokeBehaviour::LoginWall).per_minute_limit(5);
/// assert_eq!(options.per_minute_limit, 5);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SandboxOptions {
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    /// How long an upload stays `in prelucrare`.
    pub processing_delay: Duration,
    /// How long after processing a message appears in the lists.
    pub indexing_lag: Duration,
    /// Requests per minute on api.anaf.ro before HTTP 429, per user (the certificate serial
    /// behind the Bearer token), as ANAF counts them.
    pub per_minute_limit: u32,
    pub daily_limits: DailyLimits,
    /// Authorization codes must be exchanged within this window (ANAF: 60 s).
    pub code_lifetime: Duration,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
    /// Whether a refresh invalidates the refresh token it used (the safe reading of ANAF's
    /// rotation; turn off to model tokens that keep working).
    pub rotate_refresh_tokens: bool,
    pub revoke: RevokeBehaviour,
    /// Reproduce the firewall's block page on the public validation/PDF services for bodies it
    /// flags (relative `xsi:schemaLocation`, `;CP `).
    pub waf_rules: bool,
    /// How long messages stay downloadable (ANAF: 60 days).
    pub retention: Duration,
    /// Fixed credentials for the default application (generated when absent).
    pub default_client_id: Option<String>,
    pub default_client_secret: Option<String>,
    pub default_redirect_uris: Vec<String>,
    /// Worker threads of the sandbox's own runtime.
    pub worker_threads: usize,
    /// The most bytes of uploaded documents kept in memory (e-Factura and e-Transport
    /// together). Past it the oldest documents are dropped; their uploads keep their state and
    /// messages, and their download answers ANAF's "no invoice" text.
    pub max_stored_bytes: u64,
    /// How long a connection may take to send a request's headers, and how long an idle
    /// keep-alive connection is kept. A connection that sends nothing is closed after it.
    /// `Duration::ZERO` turns the timeout off.
    pub header_read_timeout: Duration,
    /// How far a token's `iat`/`nbf` may be ahead of the sandbox clock and still be accepted
    /// (clock skew; moving the clock back further makes tokens issued "later" invalid).
    pub token_leeway: Duration,
    /// One request per second to each public registry (webservicesp.anaf.ro's VAT registry
    /// and RO e-Factura register), HTTP 429 otherwise. Turn off for load tests.
    pub public_registry_pacing: bool,
}

/// The default of [`SandboxOptions::max_stored_bytes`]: 256 MiB.
pub const DEFAULT_MAX_STORED_BYTES: u64 = 256 * 1024 * 1024;

const DAY: Duration = Duration::from_secs(86_400);

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            processing_delay: Duration::from_secs(2),
            indexing_lag: Duration::from_secs(1),
            per_minute_limit: 1000,
            daily_limits: DailyLimits::default(),
            code_lifetime: Duration::from_secs(60),
            access_token_lifetime: 90 * DAY,
            refresh_token_lifetime: 365 * DAY,
            rotate_refresh_tokens: true,
            revoke: RevokeBehaviour::Rfc7009,
            waf_rules: true,
            retention: 60 * DAY,
            default_client_id: None,
            default_client_secret: None,
            default_redirect_uris: vec![DEFAULT_REDIRECT_URI.to_owned()],
            worker_threads: 2,
            max_stored_bytes: DEFAULT_MAX_STORED_BYTES,
            header_read_timeout: Duration::from_secs(30),
            token_leeway: Duration::from_secs(60),
            public_registry_pacing: true,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, value: $ty) -> SandboxOptions {
                self.$name = value;
                self
            }
        )*
    };
}

impl SandboxOptions {
    /// Options for tests: no processing delay or indexing lag, so uploads are final at once.
    pub fn instant() -> SandboxOptions {
        SandboxOptions {
            processing_delay: Duration::ZERO,
            indexing_lag: Duration::ZERO,
            ..SandboxOptions::default()
        }
    }

    setters! {
        /// Sets [`SandboxOptions::bind`].
        bind: SocketAddr;
        /// Sets [`SandboxOptions::processing_delay`].
        processing_delay: Duration;
        /// Sets [`SandboxOptions::indexing_lag`].
        indexing_lag: Duration;
        /// Sets [`SandboxOptions::per_minute_limit`].
        per_minute_limit: u32;
        /// Sets [`SandboxOptions::daily_limits`].
        daily_limits: DailyLimits;
        /// Sets [`SandboxOptions::code_lifetime`].
        code_lifetime: Duration;
        /// Sets [`SandboxOptions::access_token_lifetime`].
        access_token_lifetime: Duration;
        /// Sets [`SandboxOptions::refresh_token_lifetime`].
        refresh_token_lifetime: Duration;
        /// Sets [`SandboxOptions::rotate_refresh_tokens`].
        rotate_refresh_tokens: bool;
        /// Sets [`SandboxOptions::revoke`].
        revoke: RevokeBehaviour;
        /// Sets [`SandboxOptions::waf_rules`].
        waf_rules: bool;
        /// Sets [`SandboxOptions::retention`].
        retention: Duration;
        /// Sets [`SandboxOptions::default_redirect_uris`].
        default_redirect_uris: Vec<String>;
        /// Sets [`SandboxOptions::worker_threads`].
        worker_threads: usize;
        /// Sets [`SandboxOptions::max_stored_bytes`].
        max_stored_bytes: u64;
        /// Sets [`SandboxOptions::header_read_timeout`].
        header_read_timeout: Duration;
        /// Sets [`SandboxOptions::token_leeway`].
        token_leeway: Duration;
        /// Sets [`SandboxOptions::public_registry_pacing`].
        public_registry_pacing: bool;
    }

    /// Sets [`SandboxOptions::default_client_id`].
    #[must_use]
    pub fn default_client_id(mut self, client_id: impl Into<String>) -> SandboxOptions {
        self.default_client_id = Some(client_id.into());
        self
    }

    /// Sets [`SandboxOptions::default_client_secret`].
    #[must_use]
    pub fn default_client_secret(mut self, client_secret: impl Into<String>) -> SandboxOptions {
        self.default_client_secret = Some(client_secret.into());
        self
    }
}

/// The default application's callback: an HTTPS loopback URL, as desktop programs register.
pub const DEFAULT_REDIRECT_URI: &str = "https://localhost:8443/callback";
/// The default identity's certificate serial.
pub const DEFAULT_SERIAL: &str = "3F00A1B2C3D4E5F60718293A4B5C6D7E";
/// Companies the default identity represents.
pub const DEFAULT_CIFS: [&str; 2] = ["8000000000", "12345674"];
/// A company the sandbox knows (it receives invoices) but the default identity does not
/// represent.
pub const PARTNER_CIF: &str = "33333338";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("cannot start the sandbox: {0}")]
    Io(#[from] std::io::Error),
}

/// A running sandbox. Dropping it stops the server.
#[derive(Debug)]
pub struct Sandbox {
    shared: Arc<Shared>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl Sandbox {
    /// Starts a sandbox on its own runtime threads (so it works the same from async tests,
    /// blocking code and foreign languages).
    pub fn start(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.worker_threads.max(1))
            .thread_name("anaf-sandbox")
            .enable_all()
            .build()?;
        // Bound with std so `start` also works from inside another runtime (a tokio test).
        let listener = std::net::TcpListener::bind(options.bind)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let base_url = format!("http://{address}");
        let shared = Arc::new(Shared {
            clock: clock::Clock::default(),
            options: options.clone(),
            state: Mutex::new(State::default()),
            base_url,
        });
        seed_defaults(&shared, &options)?;
        let router = router::build(shared.clone());
        let connections = server::ConnectionOptions {
            header_read_timeout: options.header_read_timeout,
        };
        runtime.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => server::serve(listener, router, connections).await,
                Err(e) => tracing::error!("anaf-sandbox cannot listen: {e}"),
            }
        });
        Ok(Sandbox {
            shared,
            runtime: Mutex::new(Some(runtime)),
        })
    }

    /// `http://127.0.0.1:PORT`: the base URL for logincert, api and webservicesp alike.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The base URL, the default application and the default identity.
    pub fn info(&self) -> SandboxInfo {
        self.shared.info()
    }

    pub fn default_application(&self) -> Application {
        self.info().application
    }

    pub fn default_identity(&self) -> Identity {
        self.info().identity
    }

    /// Registers an application, as the portal's "Gestionare aplicatii" page does.
    pub fn register_app(&self, spec: AppSpec) -> Result<Application, SandboxError> {
        self.shared.register_app(spec)
    }

    pub fn applications(&self) -> Vec<Application> {
        self.shared.lock().apps.values().cloned().collect()
    }

    /// "Renuntare OAuth": deletes the application; its tokens stop working.
    pub fn delete_app(&self, client_id: &str) -> Result<(), SandboxError> {
        self.shared.delete_app(client_id)
    }

    /// The portal's "Istoric": application creations and deletions.
    pub fn history(&self) -> Vec<HistoryEntry> {
        self.shared.lock().history.clone()
    }

    /// Adds a user (certificate serial) with SPV rights on `cifs` for `services`.
    pub fn add_identity(&self, spec: IdentitySpec) -> Result<Identity, SandboxError> {
        self.shared.add_identity(spec)
    }

    pub fn identities(&self) -> Vec<Identity> {
        self.shared.lock().identities.values().cloned().collect()
    }

    /// Makes a company known to the sandbox (it can then receive invoices), with the default
    /// registry facts of [`CompanySpec::new`].
    pub fn add_company(&self, cif: &str, name: &str) -> Result<(), SandboxError> {
        self.shared.set_company(CompanySpec::new(cif, name))
    }

    /// Makes a company known with these registry facts, or replaces its facts: what the VAT
    /// registry and the RO e-Factura register answer for it.
    pub fn set_company(&self, spec: CompanySpec) -> Result<(), SandboxError> {
        self.shared.set_company(spec)
    }

    /// The companies the sandbox knows explicitly (identities' CIFs are known too).
    pub fn companies(&self) -> Vec<CompanySpec> {
        self.shared.lock().companies.values().cloned().collect()
    }

    /// Enters a CIF in the register of enforced collections (for `executare=DA`).
    pub fn add_enforcement_cif(&self, cif: &str) -> Result<(), SandboxError> {
        self.shared.add_enforcement_cif(cif)
    }

    /// Obtains an authorization code without a browser, as if `serial` had picked its
    /// certificate on the authorization page.
    pub fn authorize(&self, request: &AuthorizeRequest) -> Result<AuthorizationCode, SandboxError> {
        self.shared.authorize(request)
    }

    /// The request `authorize` makes for a test that does not care: the default application,
    /// its first redirect URI, the default identity, JWT tokens. Every binding's `authorize()`
    /// without arguments uses it.
    pub fn default_authorize_request(&self) -> AuthorizeRequest {
        let info = self.info();
        AuthorizeRequest {
            client_id: info.application.client_id,
            redirect_uri: info.application.redirect_uris.first().cloned().unwrap_or_default(),
            serial: info.identity.serial,
            state: None,
            token_content_type: "jwt".into(),
        }
    }

    /// Makes the next matching requests fail as described.
    pub fn inject_fault(&self, spec: FaultSpec) -> Result<(), SandboxError> {
        self.shared.inject_fault(spec)
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Moves the sandbox clock forward (code and token expiry, processing, retention, daily
    /// limits all follow it).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Sets the sandbox clock to wall time plus `offset`; a negative offset puts ANAF's clock
    /// behind the caller's (what makes ANAF refuse an `endTime` "in the future").
    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        self.shared.clock.set_offset(offset);
    }

    /// The sandbox's current time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.shared.now()
    }

    /// Everything uploaded (e-Factura and e-Transport), optionally for one CIF, oldest first.
    pub fn uploads(&self, cif: Option<&str>) -> Vec<UploadRecord> {
        self.shared.uploads(cif)
    }

    /// The request log (no secrets), oldest first.
    pub fn requests(&self) -> Vec<RequestLogEntry> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// Creates `count` processed invoices from a supplier to `cif`, spread over the last
    /// `days_back` days, so lists, pagination and downloads can be tested at volume.
    pub fn seed_received_invoices(&self, request: &SeedRequest) -> Result<Vec<u64>, SandboxError> {
        self.shared.seed(request)
    }

    /// Stops the server now (dropping the handle does the same).
    pub fn stop(&self) {
        if let Some(runtime) = self.runtime.lock().unwrap_or_else(|p| p.into_inner()).take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

fn seed_defaults(shared: &Shared, options: &SandboxOptions) -> Result<(), SandboxError> {
    let mut app = shared.register_app(AppSpec {
        name: "Aplicatie sandbox".into(),
        redirect_uris: options.default_redirect_uris.clone(),
        services: Service::ALL.to_vec(),
    })?;
    let mut state = shared.lock();
    if options.default_client_id.is_some() || options.default_client_secret.is_some() {
        state.apps.remove(&app.client_id);
        if let Some(id) = &options.default_client_id {
            app.client_id = id.clone();
        }
        if let Some(secret) = &options.default_client_secret {
            app.client_secret = secret.clone();
        }
        if let Some(entry) = state.history.last_mut() {
            entry.client_id = app.client_id.clone();
        }
        state.apps.insert(app.client_id.clone(), app.clone());
    }
    state.default_client_id = app.client_id.clone();
    state.default_app = Some(app.clone());
    state.default_serial = DEFAULT_SERIAL.to_owned();
    for (cif, name) in [
        (DEFAULT_CIFS[0], "SANDBOX FURNIZOR SRL"),
        (DEFAULT_CIFS[1], "SANDBOX CLIENT SRL"),
        (PARTNER_CIF, "SANDBOX PARTENER SRL"),
    ] {
        state.companies.insert(cif.to_owned(), CompanySpec::new(cif, name));
    }
    drop(state);
    shared.add_identity(IdentitySpec {
        serial: Some(DEFAULT_SERIAL.into()),
        name: "Ion Popescu (reprezentant legal)".into(),
        cifs: DEFAULT_CIFS.iter().map(|c| c.to_string()).collect(),
        services: Service::ALL.to_vec(),
    })?;
    Ok(())
}
