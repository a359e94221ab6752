//! The client: configuration, the shared connection pool, and access to the API groups.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Application, Endpoints, Environment, no_application};
use crate::error::Error;
use crate::secret::Secret;
use crate::tokens::{MemoryTokenStore, RotationHook, TokenManager, TokenSet, TokenStore, not_logged_in};
use crate::transport::{Call, Limiter, RetryPolicy};

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
    pub http: reqwest::Client,
    pub limiter: Option<Limiter>,
    pub retry: RetryPolicy,
    pub tokens: Arc<TokenManager>,
    pub status_poll_budget: u32,
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
    store: Arc<dyn TokenStore>,
    requests_per_minute: Option<u32>,
    retry: RetryPolicy,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    proxy: Option<String>,
    root_certificates: Vec<Vec<u8>>,
    refresh_margin: Duration,
    hooks: Vec<RotationHook>,
    status_poll_budget: u32,
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
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            environment: Environment::Test,
            endpoints: Endpoints::anaf(),
            application: None,
            store: Arc::new(MemoryTokenStore::new()),
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

    pub fn token_store(mut self, store: impl TokenStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    pub fn shared_token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = store;
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

    /// Called with the new tokens whenever they are obtained or rotated. ANAF invalidates
    /// the previous refresh token, so persist them here if you keep tokens yourself.
    pub fn on_tokens_rotated(mut self, hook: impl Fn(&TokenSet) + Send + Sync + 'static) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// How many `stareMesaj` polls `upload_and_wait` may spend on one upload (ANAF allows
    /// 100 per message per day; default 20).
    pub fn status_poll_budget(mut self, polls: u32) -> Self {
        self.status_poll_budget = polls.max(1);
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        self.endpoints.check_transport_security()?;
        if let Some(app) = &self.application {
            app.check()?;
        }
        let mut http = reqwest::Client::builder()
            .user_agent(self.user_agent)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            // ANAF's redirects lead to its login wall; following them only hides the problem.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60));
        let plain_http = self.endpoints.uses_plain_http();
        match &self.proxy {
            // Plain HTTP is allowed to loopback only; a proxy would carry tokens in clear.
            Some(_) if plain_http => {
                return Err(Error::invalid_input(
                    "proxy",
                    "a proxy cannot be used with plain-HTTP (loopback) base URLs",
                ));
            }
            Some(proxy) => {
                // The reqwest error is not quoted: the URL may hold proxy credentials.
                let proxy = reqwest::Proxy::all(proxy)
                    .map_err(|_| Error::invalid_input("proxy", "the proxy URL is not usable"))?;
                http = http.proxy(proxy);
            }
            // Nor may a proxy from the environment (HTTP_PROXY) see loopback traffic.
            None if plain_http => http = http.no_proxy(),
            None => {}
        }
        for pem in &self.root_certificates {
            let certificate = reqwest::Certificate::from_pem(pem)
                .map_err(|e| Error::invalid_input("root_certificate", format!("not a PEM certificate: {e}")))?;
            http = http.add_root_certificate(certificate);
        }
        let http = http
            .build()
            .map_err(|e| Error::internal("cannot build the HTTP client").with_source(e))?;
        Ok(Client {
            inner: Arc::new(Inner {
                environment: self.environment,
                endpoints: self.endpoints,
                application: self.application,
                http,
                limiter: self.requests_per_minute.map(Limiter::new),
                retry: self.retry,
                tokens: Arc::new(TokenManager::new(self.store, self.refresh_margin, self.hooks)),
                status_poll_budget: self.status_poll_budget,
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

    /// The OAuth operations: log in, refresh, revoke, tokens.
    pub fn oauth(&self) -> crate::oauth::OAuth<'_> {
        crate::oauth::OAuth { client: self }
    }

    /// RO e-Factura.
    pub fn efactura(&self) -> crate::efactura::EFactura<'_> {
        crate::efactura::EFactura { client: self }
    }

    /// RO e-Transport.
    pub fn etransport(&self) -> crate::etransport::ETransport<'_> {
        crate::etransport::ETransport { client: self }
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

    /// A usable access token: the current one, or a refreshed one when it is about to expire.
    /// If the refresh fails while the current token has not expired yet, the current one is
    /// used (the call may still succeed; the next one will try to refresh again).
    pub(crate) async fn access_token(&self) -> Result<(Secret, u64), Error> {
        let tokens = &self.inner.tokens;
        if let Some(fresh) = tokens.fresh_access_token()? {
            return Ok(fresh);
        }
        let (current, generation) = tokens.snapshot()?;
        let Some(current) = current else {
            return Err(not_logged_in());
        };
        let client = self.clone();
        match tokens
            .renew(generation, None, move |refresh| async move {
                client.refresh_grant(refresh).await
            })
            .await
        {
            Ok(renewed) => {
                let (_, generation) = tokens.snapshot()?;
                Ok((renewed.access_token, generation))
            }
            Err(error) if current.expires_at > chrono::Utc::now() => {
                tracing::warn!(kind = %error.kind(), "token refresh failed; using the current token until it expires");
                Ok((current.access_token, generation))
            }
            Err(error) => Err(error),
        }
    }

    pub(crate) fn can_refresh(&self) -> bool {
        self.inner.application.is_some()
    }

    /// After a 401: renew unless another task or process already did.
    pub(crate) async fn renew_after_401(&self, generation: u64, used: Option<Secret>) -> Result<(), Error> {
        let client = self.clone();
        self.inner
            .tokens
            .renew(generation, used, move |refresh| async move {
                client.refresh_grant(refresh).await
            })
            .await?;
        Ok(())
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
