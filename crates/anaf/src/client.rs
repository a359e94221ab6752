//! The client: configuration, the shared connection pool, and access to the API groups.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{Application, Endpoints, Environment, no_application};
use crate::error::Error;
use crate::quota::{DailyLimits, QuotaLedger, QuotaUsage};
use crate::secret::Secret;
use crate::tokens::{
    Access, AsyncTokenStore, Hooks, MemoryTokenStore, Renewal, StoreRef, TokenEvent, TokenHook, TokenManager, TokenSet,
    TokenStore, Trigger, manager_for, not_logged_in,
};
use crate::transport::{Call, Limiter, RetryPolicy};

/// ANAF's largest answers are ZIPs of invoices of at most 10 MB (plus signature) and PDFs of
/// them; anything far beyond is not an ANAF answer and must not exhaust memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;

/// A client for ANAF's APIs. Cheap to clone: clones share the connection pool, the
/// per-minute limiter and the tokens.
///
/// ```no_run
/// # async fn run() -> Result<(), anaf::Error> {
/// let client = anaf::Client::builder()
///     .environment(anaf::Environment::Test)
///     .application(anaf::Application::new("client-id", "client-secret", "https://localhost:8443/callback"))
///     .token_store(anaf::FileTokenStore::new("tokens.json"))
///     .build()?;
/// let state = client.efactura().status(5_000_000_001).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub environment: Environment,
    pub endpoints: Endpoints,
    pub application: Option<Application>,
    http: Mutex<HttpPool>,
    build_http: Box<dyn Fn() -> Result<reqwest::Client, Error> + Send + Sync>,
    pub limiter: Option<Limiter>,
    pub retry: RetryPolicy,
    pub tokens: Arc<TokenManager>,
    /// Keeps this client's hooks subscribed (the manager holds them weakly).
    _hooks: Arc<Hooks>,
    pub refresh_margin: Duration,
    pub status_poll_budget: u32,
    pub max_response_bytes: usize,
    pub ledger: Option<Arc<dyn QuotaLedger>>,
    pub daily_limits: DailyLimits,
    #[cfg(feature = "state")]
    pub state: Option<crate::state::Database>,
    /// How long a `sending` submission belongs to its process (then its outcome is unknown).
    #[cfg(feature = "state")]
    pub submission_lease: chrono::Duration,
    #[cfg(feature = "state")]
    pub resend_after: chrono::Duration,
}

/// The connection pool and the process it belongs to. After `fork()` the child inherits the
/// parent's pooled connections, whose driving tasks lived on threads the child does not
/// have: a request on them would wait forever. The child builds a fresh pool instead.
struct HttpPool {
    pid: u32,
    client: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("environment", &self.inner.environment)
            .field("endpoints", &self.inner.endpoints)
            .field("application", &self.inner.application)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
#[derive(Clone)]
pub struct ClientBuilder {
    environment: Environment,
    endpoints: Endpoints,
    application: Option<Application>,
    store: StoreChoice,
    requests_per_minute: Option<u32>,
    retry: RetryPolicy,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    proxy: Option<String>,
    root_certificates: Vec<Vec<u8>>,
    refresh_margin: Duration,
    hooks: Vec<TokenHook>,
    status_poll_budget: u32,
    max_response_bytes: usize,
    ledger: Option<Arc<dyn QuotaLedger>>,
    daily_limits: DailyLimits,
    #[cfg(feature = "state")]
    state: Option<crate::state::Database>,
    #[cfg(feature = "state")]
    resend_after: Duration,
    /// The name of the login kept in the state database (`database_tokens`).
    #[cfg(feature = "state")]
    database_tokens: Option<String>,
    /// A store was chosen (it and `database_tokens` exclude each other).
    #[cfg_attr(not(feature = "state"), allow(dead_code))]
    store_chosen: bool,
}

#[derive(Clone)]
enum StoreChoice {
    Blocking(Arc<dyn TokenStore>),
    Async(Arc<dyn AsyncTokenStore>),
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("environment", &self.environment)
            .field("endpoints", &self.endpoints)
            .field("application", &self.application)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("quota_ledger", &self.ledger.is_some())
            .field("daily_limits", &self.daily_limits)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            environment: Environment::Test,
            endpoints: Endpoints::anaf(),
            application: None,
            store: StoreChoice::Blocking(Arc::new(MemoryTokenStore::new())),
            requests_per_minute: Some(1000),
            retry: RetryPolicy::default(),
            // ANAF's upload can take well over 10 s; clients with short timeouts resend and
            // create duplicates.
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(15),
            user_agent: format!("anaf/{}", env!("CARGO_PKG_VERSION")),
            proxy: None,
            root_certificates: Vec::new(),
            refresh_margin: Duration::from_secs(300),
            hooks: Vec::new(),
            status_poll_budget: 20,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            ledger: None,
            daily_limits: DailyLimits::default(),
            #[cfg(feature = "state")]
            state: None,
            #[cfg(feature = "state")]
            resend_after: Duration::from_secs(30 * 60),
            #[cfg(feature = "state")]
            database_tokens: None,
            store_chosen: false,
        }
    }
}

impl ClientBuilder {
    /// `Test` (the default) or `Prod`.
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// Points logincert, api and webservicesp at one base URL (the sandbox).
    pub fn base_url(mut self, base: &str) -> Result<Self, Error> {
        self.endpoints = Endpoints::single(base)?;
        Ok(self)
    }

    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    pub fn application(mut self, application: Application) -> Self {
        self.application = Some(application);
        self
    }

    /// Where tokens are kept (default: memory). Clients of one process whose stores share a
    /// [`TokenStore::sharing_key`] (two [`crate::FileTokenStore`]s of one path) share one
    /// token manager: one refresh at a time, one cache.
    pub fn token_store(mut self, store: impl TokenStore) -> Self {
        self.store = StoreChoice::Blocking(Arc::new(store));
        self.store_chosen = true;
        self
    }

    /// A store shared with other clients: every client built on the same `Arc` shares one
    /// token manager, so they never spend the same refresh token twice (a program that makes
    /// one client per operation stays safe).
    pub fn shared_token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = StoreChoice::Blocking(store);
        self.store_chosen = true;
        self
    }

    /// A store with async calls (what the Python asyncio and Node bindings implement). As
    /// with [`ClientBuilder::shared_token_store`], clients on the same `Arc` share tokens.
    pub fn async_token_store(mut self, store: Arc<dyn AsyncTokenStore>) -> Self {
        self.store = StoreChoice::Async(store);
        self.store_chosen = true;
        self
    }

    /// The client-side budget; `None` disables the limiter. Default: ANAF's 1000 per minute.
    pub fn requests_per_minute(mut self, limit: Option<u32>) -> Self {
        self.requests_per_minute = limit;
        self
    }

    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Per-request timeout (default 120 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The User-Agent header (default `anaf/VERSION`). `build` refuses one with a line break
    /// or another control character.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// An HTTP(S) proxy URL, e.g. `http://proxy.local:3128`.
    pub fn proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = Some(proxy.into());
        self
    }

    /// Trusts an extra root certificate (PEM), e.g. a corporate TLS-inspecting proxy.
    pub fn add_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Refresh this long before the access token expires (default 5 minutes).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Called with every [`TokenEvent`] of this client's tokens: new tokens (login, refresh,
    /// `set_tokens`, adopted from another process), a save that failed and one that worked
    /// later, a refresh token that stopped working, a logout. Every client sharing the store
    /// hears about changes made through any of them.
    ///
    /// Hooks run on a thread of the runtime's blocking pool, one event at a time in the order
    /// of the changes, shortly after the change: never on an async worker, never with a lock
    /// of the client held, and no call waits for them (so a hook that hands work to a UI
    /// thread cannot deadlock a call made from that thread). A client dropped right after a
    /// change still hears about it. A hook may block (a database write); it must not call the
    /// blocking API (that is refused on library threads).
    pub fn on_token_event(mut self, hook: impl Fn(&TokenEvent) + Send + Sync + 'static) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Called with the new tokens whenever they change (login, refresh, `set_tokens`): ANAF
    /// invalidates the previous refresh token on every refresh, so persist them here if you
    /// keep tokens yourself. A shorthand for [`ClientBuilder::on_token_event`].
    pub fn on_tokens_changed(self, hook: impl Fn(&TokenSet) + Send + Sync + 'static) -> Self {
        self.on_token_event(move |event| {
            if let TokenEvent::Changed { tokens, .. } = event {
                hook(tokens)
            }
        })
    }

    /// The largest answer body accepted from ANAF (default [`DEFAULT_MAX_RESPONSE_BYTES`],
    /// 64 MiB: above ANAF's largest ZIP or PDF). A larger or endless body ends the call with
    /// [`crate::ErrorKind::UnexpectedResponse`] instead of exhausting memory.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes.max(1);
        self
    }

    /// How many `stareMesaj` polls `upload_and_wait` may spend on one upload (ANAF allows
    /// 100 per message per day; default 20).
    pub fn status_poll_budget(mut self, polls: u32) -> Self {
        self.status_poll_budget = polls.max(1);
        self
    }

    /// Counts ANAF's daily limits in `ledger` and refuses a call that would break one (see
    /// [`crate::quota`]). Clients (and, with a database ledger, processes and machines) that
    /// share a ledger share the counts. No ledger by default.
    pub fn quota_ledger(mut self, ledger: Arc<dyn QuotaLedger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The daily limits the quota ledger enforces (default: ANAF's less 5%).
    pub fn daily_limits(mut self, limits: DailyLimits) -> Self {
        self.daily_limits = limits;
        self
    }

    /// The state database (cargo feature `state`): the submission journal of
    /// [`crate::efactura::EFactura::submit`], and the quota ledger unless
    /// [`ClientBuilder::quota_ledger`] set another.
    #[cfg(feature = "state")]
    pub fn state(mut self, database: crate::state::Database) -> Self {
        self.state = Some(database);
        self
    }

    /// How long after an upload whose answer was lost `submit` keeps looking for it in
    /// ANAF's message list before it sends it again (default 30 minutes: ANAF lists an
    /// invoice only once it is processed).
    #[cfg(feature = "state")]
    pub fn resend_after(mut self, wait: Duration) -> Self {
        self.resend_after = wait;
        self
    }

    /// Keeps the tokens in the state database ([`ClientBuilder::state`]) under `name`, one
    /// login shared by every process and machine using that database, refreshed by one of
    /// them at a time (see [`crate::state::DatabaseTokenStore`]). Instead of a token store.
    #[cfg(feature = "state")]
    pub fn database_tokens(mut self, name: impl Into<String>) -> Self {
        self.database_tokens = Some(name.into());
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        self.endpoints.check_transport_security()?;
        if let Some(app) = &self.application {
            app.check()?;
        }
        // reqwest would refuse it later as an internal failure; it is the caller's text.
        if reqwest::header::HeaderValue::from_str(&self.user_agent).is_err() {
            return Err(Error::invalid_input(
                "user_agent",
                "the user agent must be printable text, without line breaks or control characters",
            ));
        }
        let plain_http = self.endpoints.uses_plain_http();
        if self.proxy.is_some() && plain_http {
            // Plain HTTP is allowed to loopback only; a proxy would carry tokens in clear.
            return Err(Error::invalid_input(
                "proxy",
                "a proxy cannot be used with plain-HTTP (loopback) base URLs",
            ));
        }
        let proxy = match &self.proxy {
            // The reqwest error is not quoted: the URL may hold proxy credentials.
            Some(proxy) => Some(
                reqwest::Proxy::all(proxy).map_err(|_| Error::invalid_input("proxy", "the proxy URL is not usable"))?,
            ),
            None => None,
        };
        let certificates = self
            .root_certificates
            .iter()
            .map(|pem| {
                reqwest::Certificate::from_pem(pem)
                    .map_err(|e| Error::invalid_input("root_certificate", format!("not a PEM certificate: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (user_agent, timeout, connect_timeout) = (self.user_agent, self.timeout, self.connect_timeout);
        let build_http = move || {
            let mut http = reqwest::Client::builder()
                .user_agent(user_agent.clone())
                .timeout(timeout)
                .connect_timeout(connect_timeout)
                // ANAF's redirects lead to its login wall; following them only hides the problem.
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(60));
            match &proxy {
                Some(proxy) => http = http.proxy(proxy.clone()),
                // Nor may a proxy from the environment (HTTP_PROXY) see loopback traffic.
                None if plain_http => http = http.no_proxy(),
                None => {}
            }
            for certificate in &certificates {
                http = http.add_root_certificate(certificate.clone());
            }
            http.build()
                .map_err(|e| Error::internal("cannot build the HTTP client").with_source(e))
        };
        let http = build_http()?;
        #[cfg(feature = "state")]
        let store = match (self.database_tokens, &self.state) {
            (None, _) => self.store,
            (Some(_), _) if self.store_chosen => {
                return Err(Error::invalid_input(
                    "database_tokens",
                    "the tokens are kept either in the state database or in a token store, not both",
                ));
            }
            (Some(name), Some(database)) => {
                StoreChoice::Async(Arc::new(crate::state::DatabaseTokenStore::new(database.clone(), name)?))
            }
            (Some(_), None) => {
                return Err(Error::invalid_input(
                    "database_tokens",
                    "the tokens can be kept in the state database only when one is given (state)",
                ));
            }
        };
        #[cfg(not(feature = "state"))]
        let store = self.store;
        let tokens = manager_for(match store {
            StoreChoice::Blocking(store) => StoreRef::Blocking(store),
            StoreChoice::Async(store) => StoreRef::Async(store),
        });
        let hooks = Arc::new(Hooks(self.hooks));
        tokens.subscribe(&hooks);
        Ok(Client {
            inner: Arc::new(Inner {
                environment: self.environment,
                endpoints: self.endpoints,
                application: self.application,
                http: Mutex::new(HttpPool {
                    pid: std::process::id(),
                    client: http,
                }),
                build_http: Box::new(build_http),
                limiter: self.requests_per_minute.map(Limiter::new),
                retry: self.retry,
                tokens,
                _hooks: hooks,
                refresh_margin: self.refresh_margin,
                status_poll_budget: self.status_poll_budget,
                max_response_bytes: self.max_response_bytes,
                #[cfg(feature = "state")]
                ledger: self.ledger.or_else(|| {
                    self.state
                        .clone()
                        .map(|database| Arc::new(database) as Arc<dyn QuotaLedger>)
                }),
                #[cfg(not(feature = "state"))]
                ledger: self.ledger,
                daily_limits: self.daily_limits,
                #[cfg(feature = "state")]
                state: self.state,
                // Longer than any upload can last: past it the sender is presumed gone.
                #[cfg(feature = "state")]
                submission_lease: chrono::Duration::from_std(
                    self.timeout.saturating_mul(2).saturating_add(Duration::from_secs(5)),
                )
                .unwrap_or(chrono::Duration::MAX),
                #[cfg(feature = "state")]
                resend_after: chrono::Duration::from_std(self.resend_after).unwrap_or(chrono::Duration::MAX),
            }),
        })
    }
}

/// TestOauth echoes the request headers, the Authorization header (and so the access token)
/// included; the text is returned with every `Bearer` value replaced by `***`.
fn mask_bearer(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("Bearer ") {
        let (before, after) = rest.split_at(at + "Bearer ".len());
        masked.push_str(before);
        let token_end = after
            .find(|c: char| c == ']' || c == ',' || c.is_whitespace())
            .unwrap_or(after.len());
        masked.push_str("***");
        rest = &after[token_end..];
    }
    masked.push_str(rest);
    masked
}

impl Client {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    pub fn environment(&self) -> Environment {
        self.inner.environment
    }

    /// The OAuth operations: log in, refresh, revoke, tokens. The handle owns a clone of the
    /// client, so it may outlive the expression that made it.
    pub fn oauth(&self) -> crate::oauth::OAuth {
        crate::oauth::OAuth { client: self.clone() }
    }

    /// RO e-Factura.
    pub fn efactura(&self) -> crate::efactura::EFactura {
        crate::efactura::EFactura { client: self.clone() }
    }

    /// RO e-Transport.
    pub fn etransport(&self) -> crate::etransport::ETransport {
        crate::etransport::ETransport { client: self.clone() }
    }

    /// ANAF's public registries (no login): taxpayer data and the RO e-Factura register.
    pub fn public(&self) -> crate::public::Public {
        crate::public::Public { client: self.clone() }
    }

    /// The connection pool of this process (rebuilt once in a child after `fork()`).
    pub(crate) fn http(&self) -> Result<reqwest::Client, Error> {
        let mut pool = self.inner.http.lock().unwrap_or_else(|p| p.into_inner());
        let pid = std::process::id();
        if pool.pid != pid {
            // The inherited pool is leaked, not dropped: its connections belong to the parent,
            // and tearing them down from here could reach the parent's sockets.
            let inherited = std::mem::replace(&mut pool.client, (self.inner.build_http)()?);
            std::mem::forget(inherited);
            pool.pid = pid;
        }
        Ok(pool.client.clone())
    }

    /// The state database, or why there is none.
    #[cfg(feature = "state")]
    pub(crate) fn state_database(&self) -> Result<&crate::state::Database, Error> {
        self.inner.state.as_ref().ok_or_else(|| {
            Error::invalid_input(
                "state",
                "this needs a state database: build the client with ClientBuilder::state",
            )
        })
    }

    /// Today's use of ANAF's daily limits as the quota ledger counts them (every counter and
    /// key used today, with what is left and when it resets); empty without a ledger.
    pub async fn quota_usage(&self) -> Result<Vec<QuotaUsage>, Error> {
        match &self.inner.ledger {
            Some(ledger) => crate::quota::usage(&**ledger, &self.inner.daily_limits, chrono::Utc::now()).await,
            None => Ok(Vec::new()),
        }
    }

    /// ANAF's TestOauth service: any valid token reaches it. Returns its text (`Hello, {name}`
    /// and a dump of the request headers as ANAF's gateway saw them).
    pub async fn hello(&self, name: &str) -> Result<String, Error> {
        let mut url = self.api_url("TestOauth/jaxrs/hello");
        url.query_pairs_mut().append_pair("name", name);
        let reply = self.send(Call::get("hello", url)).await?.check()?;
        Ok(mask_bearer(&String::from_utf8_lossy(&reply.body)))
    }

    pub(crate) fn application(&self) -> Result<&Application, Error> {
        self.inner.application.as_ref().ok_or_else(no_application)
    }

    pub(crate) fn api_url(&self, path: &str) -> url::Url {
        self.inner
            .endpoints
            .api
            .join(path)
            .expect("relative API paths are valid")
    }

    pub(crate) fn public_url(&self, path: &str) -> url::Url {
        self.inner
            .endpoints
            .public
            .join(path)
            .expect("relative paths are valid")
    }

    pub(crate) fn oauth_url(&self, path: &str) -> url::Url {
        self.inner.endpoints.oauth.join(path).expect("relative paths are valid")
    }

    /// A usable access token and its generation: the current one, or a refreshed one when it
    /// is about to expire. Tokens that could not be saved earlier are saved first (the call
    /// goes on if that fails again; the hooks heard about it). If a refresh fails while the
    /// current token has not expired yet, the current one is used.
    pub(crate) async fn access_token(&self) -> Result<(Secret, u64), Error> {
        let tokens = &self.inner.tokens;
        let (current, generation, refresh_paused) = match tokens.access(self.inner.refresh_margin).await? {
            Access::NoTokens => return Err(not_logged_in()),
            Access::Fresh {
                token,
                generation,
                save_due,
            } => {
                if save_due && let Err(e) = tokens.flush(false).await {
                    tracing::debug!(kind = %e.kind(), "the tokens still cannot be saved");
                }
                return Ok((token, generation));
            }
            Access::Stale {
                current,
                generation,
                login_required: Some(error),
                recheck_due,
                ..
            } => {
                // Refreshing is pointless. Another program sharing the store may have logged
                // in since; otherwise use the token while it lasts, then say why not.
                if recheck_due && tokens.recheck_store().await.unwrap_or(false) {
                    return Box::pin(self.access_token()).await;
                }
                if current.expires_at > chrono::Utc::now() {
                    return Ok((current.access_token, generation));
                }
                return Err(error);
            }
            Access::Stale {
                current,
                generation,
                refresh_paused,
                ..
            } => (current, generation, refresh_paused),
        };
        let still_valid = current.expires_at > chrono::Utc::now();
        if still_valid && (refresh_paused || !self.can_refresh()) {
            return Ok((current.access_token, generation));
        }
        match self.renew(generation, None, Trigger::Expiry).await {
            Ok(renewal) => Ok((renewal.tokens.access_token, renewal.generation)),
            Err(_) if still_valid => Ok((current.access_token, generation)),
            Err(error) => Err(error),
        }
    }

    pub(crate) fn can_refresh(&self) -> bool {
        self.inner.application.is_some()
    }

    pub(crate) async fn renew(
        &self,
        generation: u64,
        replacing: Option<Secret>,
        trigger: Trigger,
    ) -> Result<Renewal, Error> {
        let client = self.clone();
        self.inner
            .tokens
            .renew(
                generation,
                replacing,
                trigger,
                self.inner.refresh_margin,
                move |refresh| {
                    let client = client.clone();
                    async move { client.refresh_grant(refresh).await }
                },
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bearer_values_are_masked_in_echoed_headers() {
        let text =
            "Hello, x\nheaders=key=Authorization\nval=[Bearer eyJ.abc.def]\nkey=Other\nval=[Bearer t2, Bearer t3]\n";
        assert_eq!(
            super::mask_bearer(text),
            "Hello, x\nheaders=key=Authorization\nval=[Bearer ***]\nkey=Other\nval=[Bearer ***, Bearer ***]\n"
        );
    }
}
