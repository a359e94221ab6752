//! Desktop login: ANAF accepts only HTTPS callback URLs, so a desktop program registers
//! `https://localhost:PORT/...`, listens there with a throw-away self-signed certificate (the
//! browser warns once), opens the system browser on the authorization page, checks `state`,
//! and exchanges the code at once (ANAF gives 60 s). Where listening is impossible, the user
//! pastes the URL the browser ended on.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::error::{Error, ErrorKind};
use crate::oauth::{OAuth, code_from_redirect};
use crate::tokens::TokenSet;

type UrlHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Calls a host's hook on the blocking pool (a host may block in it, e.g. to reach its UI
/// thread), never on an async worker.
async fn call_hook(hook: &UrlHook, text: String) {
    let hook = hook.clone();
    let _ = tokio::task::spawn_blocking(move || hook(&text)).await;
}
type PasteSource = Box<dyn FnOnce() -> Option<String> + Send>;

/// How [`OAuth::login_interactive`] reaches the user: `LoginOptions::default()` and the
/// setters.
#[non_exhaustive]
pub struct LoginOptions {
    /// Open the system browser on the authorization page (default: yes).
    pub open_browser: bool,
    /// Called with the authorization URL, e.g. to show it or open it in an embedded browser.
    pub on_url: Option<UrlHook>,
    /// Called with the listener's certificate (PEM), for applications that embed a browser
    /// and can trust it instead of showing a warning.
    pub on_certificate: Option<UrlHook>,
    /// A blocking source of the URL the user pastes (e.g. a line read from the terminal),
    /// raced against the listener. `None` waits for the listener only.
    pub paste: Option<PasteSource>,
    /// How long the user has to log in.
    pub timeout: Duration,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            open_browser: true,
            on_url: None,
            on_certificate: None,
            paste: None,
            timeout: Duration::from_secs(300),
        }
    }
}

impl LoginOptions {
    pub fn open_browser(mut self, open: bool) -> Self {
        self.open_browser = open;
        self
    }

    pub fn on_url(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_url = Some(Arc::new(hook));
        self
    }

    pub fn on_certificate(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_certificate = Some(Arc::new(hook));
        self
    }

    pub fn paste(mut self, source: impl FnOnce() -> Option<String> + Send + 'static) -> Self {
        self.paste = Some(Box::new(source));
        self
    }

    /// Any duration; `Duration::MAX` waits without limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// At most this many callback connections are served at once (a browser opens a few; a
/// local process opening thousands must not exhaust the program).
const MAX_CONNECTIONS: usize = 16;
/// A connection must finish its TLS handshake and send its request headers within this.
const HANDSHAKE_AND_HEADERS: Duration = Duration::from_secs(5);

impl std::fmt::Debug for LoginOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginOptions")
            .field("open_browser", &self.open_browser)
            .field("paste", &self.paste.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Where the loopback listener must listen, from the registered redirect URI.
struct Callback {
    port: u16,
    path: String,
    hosts: Vec<IpAddr>,
}

fn loopback_callback(redirect_uri: &str) -> Option<Callback> {
    let url = url::Url::parse(redirect_uri).ok()?;
    if url.scheme() != "https" {
        return None;
    }
    let hosts = match url.host()? {
        url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => {
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]
        }
        url::Host::Ipv4(ip) if ip.is_loopback() => vec![IpAddr::V4(ip)],
        url::Host::Ipv6(ip) if ip.is_loopback() => vec![IpAddr::V6(ip)],
        _ => return None,
    };
    Some(Callback {
        port: url.port_or_known_default()?,
        path: url.path().to_owned(),
        hosts,
    })
}

const DONE_PAGE: &str = "<!doctype html><html lang=\"ro\"><head><meta charset=\"utf-8\"><title>anaf</title></head>\
<body><h1>Autentificare reusita</h1><p>Puteti inchide aceasta fereastra. (Login complete: you can close this window.)</p></body></html>";

/// Where a redirect URL came from: the listener (anyone on this machine can reach it, so a
/// wrong `state` there is ignored) or the user's paste (a wrong one there is an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Listener,
    Paste,
}

async fn serve_callbacks(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    callback_path: String,
    redirect_base: String,
    found: mpsc::Sender<(Source, String)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let acceptor = acceptor.clone();
        let found = found.clone();
        let callback_path = callback_path.clone();
        let redirect_base = redirect_base.clone();
        tokio::spawn(async move {
            let _slot = slot;
            // Browsers also probe (favicon, preconnect); a failed handshake is the certificate
            // warning page, not an error. A connection that stalls is dropped.
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_AND_HEADERS, acceptor.accept(stream)).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let found = found.clone();
                let matches = request.uri().path() == callback_path;
                let query = request.uri().query().unwrap_or_default().to_owned();
                let redirect_base = redirect_base.clone();
                async move {
                    let (status, body) = if matches {
                        let _ = found.send((Source::Listener, format!("{redirect_base}?{query}"))).await;
                        (200, DONE_PAGE)
                    } else {
                        (404, "")
                    };
                    Ok::<_, Infallible>(
                        hyper::Response::builder()
                            .status(status)
                            .header("content-type", "text/html; charset=utf-8")
                            .body(body.to_owned())
                            .expect("static response"),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_AND_HEADERS)
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn tls_acceptor() -> Result<(TlsAcceptor, String), Error> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()])
            .map_err(|e| Error::internal(format!("cannot make the callback certificate: {e}")))?;
    let pem = certified.cert.pem();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup failed: {e}")))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| Error::internal(format!("TLS setup failed: {e}")))?;
    Ok((TlsAcceptor::from(Arc::new(config)), pem))
}

#[derive(Default)]
struct ListenerTasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for ListenerTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl OAuth {
    /// Logs the user in through the system browser and returns (and stores) the tokens. See
    /// the module documentation for the flow; [`LoginOptions`] for the ways to involve the
    /// user.
    pub async fn login_interactive(&self, mut options: LoginOptions) -> Result<TokenSet, Error> {
        let app = self.client.application()?;
        let request = self.authorization_url(None)?;
        let (found_tx, mut found_rx) = mpsc::channel::<(Source, String)>(4);
        // Listener tasks end with the login, whatever way it ends.
        let mut listeners = ListenerTasks::default();

        let callback = loopback_callback(&app.redirect_uri);
        let mut listening = false;
        if let Some(callback) = &callback {
            let (acceptor, pem) = tls_acceptor()?;
            if let Some(hook) = &options.on_certificate {
                call_hook(hook, pem).await;
            }
            let base = app.redirect_uri.split(['?', '#']).next().unwrap_or_default().to_owned();
            for host in &callback.hosts {
                match TcpListener::bind(SocketAddr::new(*host, callback.port)).await {
                    Ok(listener) => {
                        listening = true;
                        listeners.0.push(tokio::spawn(serve_callbacks(
                            listener,
                            acceptor.clone(),
                            callback.path.clone(),
                            base.clone(),
                            found_tx.clone(),
                        )));
                    }
                    Err(e) => tracing::debug!("cannot listen on {host}:{}: {e}", callback.port),
                }
            }
        }
        if let Some(paste) = options.paste.take() {
            let found = found_tx.clone();
            // A blocking read cannot be interrupted: if the listener wins, this thread keeps
            // waiting for its line, and whatever is pasted then is dropped.
            tokio::task::spawn_blocking(move || {
                if let Some(url) = paste() {
                    let _ = found.blocking_send((Source::Paste, url));
                }
            });
        } else if !listening {
            return Err(Error::invalid_input(
                "redirect_uri",
                "cannot listen on the registered callback (it must be https://localhost:PORT/... and the port free), \
                 and no paste source was given",
            ));
        }
        drop(found_tx);

        if let Some(hook) = &options.on_url {
            call_hook(hook, request.url.clone()).await;
        }
        if options.open_browser
            && let Err(e) = open::that_detached(&request.url)
        {
            tracing::warn!("cannot open the browser: {e}");
        }

        // `None`: a timeout beyond what the clock can hold, i.e. no limit.
        let deadline = tokio::time::Instant::now().checked_add(options.timeout);
        let code = loop {
            let next = async {
                match deadline {
                    Some(deadline) => tokio::time::timeout_at(deadline, found_rx.recv()).await,
                    None => Ok(found_rx.recv().await),
                }
            };
            let (source, redirected) = next
                .await
                .map_err(|_| Error::new(ErrorKind::Timeout, "the login was not completed in time"))?
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Cancelled,
                        "the login was abandoned (no callback and nothing pasted)",
                    )
                })?;
            // The state is checked before the error, so a local process cannot end the login
            // by calling the listener with `?error=...`: without this attempt's state it is
            // ignored.
            match code_from_redirect(&redirected, &request.state) {
                Ok(code) => break code,
                Err(e) if source == Source::Listener && e.oauth_error() == Some("state_mismatch") => {
                    tracing::warn!("ignored a callback with another state (not this login attempt)");
                }
                Err(e) => return Err(e),
            }
        };
        self.exchange_code(code.expose()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_loopback_callbacks_are_listened_on() {
        let cb = loopback_callback("https://localhost:8443/callback").unwrap();
        assert_eq!((cb.port, cb.path.as_str(), cb.hosts.len()), (8443, "/callback", 2));
        assert!(loopback_callback("https://127.0.0.1:9000/x").is_some());
        assert!(loopback_callback("http://localhost:8443/callback").is_none());
        assert!(loopback_callback("https://example.ro/cb").is_none());
    }
}
