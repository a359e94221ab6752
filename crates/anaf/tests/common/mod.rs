//! Shared by the client's integration tests: a sandbox, and clients logged in to it over
//! real HTTP.

#![allow(dead_code)]

use anaf::{Application, Client, ClientBuilder, Environment, RetryPolicy};
use anaf_sandbox::{AuthorizeRequest, Sandbox, SandboxOptions};

pub const CIF: &str = "8000000000";
pub const OTHER_OWN_CIF: &str = "12345674";
pub const PARTNER: &str = anaf_sandbox::PARTNER_CIF;
pub const SERIAL: &str = anaf_sandbox::DEFAULT_SERIAL;

pub fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions::instant()).expect("sandbox starts")
}

pub fn sandbox_with(options: SandboxOptions) -> Sandbox {
    Sandbox::start(options).expect("sandbox starts")
}

pub fn application(sandbox: &Sandbox) -> Application {
    let app = sandbox.default_application();
    Application::new(app.client_id, app.client_secret, app.redirect_uris[0].clone())
}

/// A builder pointed at the sandbox, with the default application, no retry delays.
pub fn builder(sandbox: &Sandbox) -> ClientBuilder {
    Client::builder()
        .environment(Environment::Test)
        .base_url(sandbox.base_url())
        .unwrap()
        .application(application(sandbox))
        .retry_policy(RetryPolicy::default().initial_delay(std::time::Duration::from_millis(10)))
}

/// A code for the default identity, as if the user had approved in the browser.
pub fn code(sandbox: &Sandbox) -> String {
    code_for(sandbox, SERIAL)
}

pub fn code_for(sandbox: &Sandbox, serial: &str) -> String {
    let app = sandbox.default_application();
    sandbox
        .authorize(&AuthorizeRequest {
            client_id: app.client_id,
            redirect_uri: app.redirect_uris[0].clone(),
            serial: serial.into(),
            state: None,
            token_content_type: "jwt".into(),
        })
        .unwrap()
        .code
}

pub async fn logged_in(sandbox: &Sandbox) -> Client {
    logged_in_with(sandbox, builder(sandbox)).await
}

pub async fn logged_in_with(sandbox: &Sandbox, builder: ClientBuilder) -> Client {
    let client = builder.build().unwrap();
    client
        .oauth()
        .exchange_code(&code(sandbox))
        .await
        .expect("code exchange");
    client
}

/// How many refresh grants the sandbox served.
pub fn refreshes(sandbox: &Sandbox) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.detail.as_deref() == Some("grant_type=refresh_token"))
        .count()
}

pub fn requests_to(sandbox: &Sandbox, endpoint: &str) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint.as_deref() == Some(endpoint))
        .count()
}

pub fn invoice(number: &str, seller: &str, buyer: &str) -> String {
    anaf_sandbox::samples::invoice_xml(&anaf_sandbox::samples::InvoiceSpec::new(number, seller, buyer))
}

/// Makes the stored tokens look expired to the client (they stay valid at the sandbox).
pub async fn age_tokens(client: &Client) {
    let mut tokens = client.oauth().tokens().await.unwrap().expect("logged in");
    tokens.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
    client.oauth().set_tokens(tokens).await.unwrap();
}

/// [`age_tokens`] for blocking tests.
pub fn age_tokens_blocking(client: &anaf::blocking::Client) {
    let mut tokens = client.oauth().tokens().unwrap().expect("logged in");
    tokens.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
    client.oauth().set_tokens(tokens).unwrap();
}

/// What the user's browser does on the authorization page: read the form, pick the default
/// identity, submit. Returns where the identity provider redirects (the callback URL with
/// `code` and `state`).
pub async fn approve_on_page(http: &reqwest::Client, sandbox_base: &str, authorization_url: &str) -> String {
    let page = http.get(authorization_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Autentificare"), "the authorization page: {page}");
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} field")) + marker.len();
        page[start..].split('"').next().unwrap().replace("&amp;", "&")
    };
    let form = [
        ("client_id", field("client_id")),
        ("redirect_uri", field("redirect_uri")),
        ("state", field("state")),
        ("token_content_type", field("token_content_type")),
        ("serial", SERIAL.to_owned()),
        ("action", "approve".to_owned()),
    ];
    let redirect = http
        .post(format!("{sandbox_base}/anaf-oauth2/v1/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    redirect.headers()["location"].to_str().unwrap().to_owned()
}

/// An HTTP client that behaves like a browser for these tests: no automatic redirects, and
/// it accepts the login listener's self-signed certificate (a real browser shows a warning).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

/// Waits (at most 20 s) until `check` gives a value: for what happens after a call returns,
/// such as token hooks, which run on their own task.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
