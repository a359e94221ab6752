//! The desktop login helper end to end: HTTPS loopback listener, the sandbox's authorization
//! page, state check, code exchange; and the paste fallback.

#![cfg(feature = "desktop-login")]

mod common;

use std::time::Duration;

use anaf::{Application, ErrorKind, LoginOptions};
use anaf_sandbox::{AppSpec, Sandbox, Service};
use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn desktop_app(sandbox: &Sandbox, port: u16) -> Application {
    let app = sandbox
        .register_app(AppSpec {
            name: "Desktop".into(),
            redirect_uris: vec![format!("https://localhost:{port}/anaf/callback")],
            services: vec![Service::EFactura, Service::ETransport],
        })
        .unwrap();
    Application::new(app.client_id, app.client_secret, app.redirect_uris[0].clone())
}

/// A client whose registered callback is a web address: nothing to listen on locally.
fn web_app(sandbox: &Sandbox) -> (anaf_sandbox::Application, anaf::Client) {
    let app = sandbox
        .register_app(AppSpec {
            name: "Web".into(),
            redirect_uris: vec!["https://erp.example.ro/anaf".into()],
            services: vec![Service::EFactura],
        })
        .unwrap();
    let client = builder(sandbox)
        .application(Application::new(
            app.client_id.clone(),
            app.client_secret.clone(),
            app.redirect_uris[0].clone(),
        ))
        .build()
        .unwrap();
    (app, client)
}

/// Plays the user's browser: approves on the authorization page, then follows the redirect
/// to the local HTTPS listener and returns the page it shows.
async fn browser_session(sandbox_base: String, authorization_url: String) -> String {
    let http = browser();
    let callback = approve_on_page(&http, &sandbox_base, &authorization_url).await;
    http.get(&callback).send().await.unwrap().text().await.unwrap()
}

/// A desktop login in progress on a free loopback port: the client, the login's task, the
/// authorization URL it shows, the registered callback and its port.
struct DesktopLogin {
    client: anaf::Client,
    login: tokio::task::JoinHandle<Result<anaf::TokenSet, anaf::Error>>,
    url: String,
    callback: String,
    port: u16,
}

/// Starts a login with `options` (its `on_url` is set here) and waits for its URL.
async fn start_desktop_login(sandbox: &Sandbox, options: LoginOptions) -> DesktopLogin {
    let port = free_port();
    let app = desktop_app(sandbox, port);
    let callback = app.redirect_uri.clone();
    let client = builder(sandbox).application(app).build().unwrap();
    let (url_tx, mut url_rx) = tokio::sync::mpsc::unbounded_channel();
    let options = options
        .open_browser(false)
        .on_url(move |url| url_tx.send(url.to_owned()).unwrap());
    let login_client = client.clone();
    let login = tokio::spawn(async move { login_client.oauth().login_interactive(options).await });
    let url = url_rx.recv().await.unwrap();
    DesktopLogin {
        client,
        login,
        url,
        callback,
        port,
    }
}

#[tokio::test]
async fn login_through_the_loopback_listener() {
    let sandbox = sandbox();
    let (pem_tx, pem_rx) = std::sync::mpsc::channel();
    let options = LoginOptions::default()
        .on_certificate(move |pem| pem_tx.send(pem.to_owned()).unwrap())
        .timeout(Duration::from_secs(20));
    let DesktopLogin { client, login, url, .. } = start_desktop_login(&sandbox, options).await;
    assert!(url.contains("token_content_type=jwt"));
    let page = browser_session(sandbox.base_url().to_owned(), url).await;
    assert!(page.contains("Autentificare reusita"));
    let tokens = login.await.unwrap().unwrap();
    assert!(tokens.expires_at > chrono::Utc::now());
    assert!(pem_rx.recv().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(client.hello("desktop").await.unwrap().starts_with("Hello, desktop"));
}

#[tokio::test]
async fn login_by_pasting_the_redirected_url() {
    let sandbox = sandbox();
    // A callback that is not a loopback URL: the listener cannot be used, pasting can.
    let (app, client) = web_app(&sandbox);
    let (url_tx, url_rx) = std::sync::mpsc::channel::<String>();
    let base = sandbox.base_url().to_owned();
    let options = LoginOptions::default()
        .open_browser(false)
        .on_url(move |url| url_tx.send(url.to_owned()).unwrap())
        // The "user" pastes the URL the browser ended on.
        .paste(move || {
            let url = url_rx.recv().unwrap();
            let state = url::Url::parse(&url)
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "state")
                .unwrap()
                .1
                .into_owned();
            Some(approve_without_browser(
                &base,
                &app.client_id,
                &app.redirect_uris[0],
                &state,
            ))
        })
        .timeout(Duration::from_secs(20));
    let tokens = client.oauth().login_interactive(options).await.unwrap();
    assert!(tokens.refresh_expires_at.is_some());
}

/// Stand-in for "the user copies the address bar": approves on the sandbox page without a
/// browser and returns the callback URL with code and state. Runs on the paste thread.
fn approve_without_browser(base: &str, client_id: &str, redirect_uri: &str, state: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let form = [
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("token_content_type", "jwt"),
            ("serial", SERIAL),
            ("action", "approve"),
        ];
        let response = http
            .post(format!("{base}/anaf-oauth2/v1/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap();
        response.headers()["location"].to_str().unwrap().to_owned()
    })
}

#[tokio::test]
async fn a_callback_that_cannot_be_listened_on_and_no_paste_is_refused() {
    let sandbox = sandbox();
    let (_, client) = web_app(&sandbox);
    let options = LoginOptions::default().open_browser(false);
    let error = client.oauth().login_interactive(options).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.field()),
        (ErrorKind::InvalidInput, Some("redirect_uri"))
    );
}

#[tokio::test]
async fn an_abandoned_login_times_out() {
    let sandbox = sandbox();
    let client = builder(&sandbox)
        .application(desktop_app(&sandbox, free_port()))
        .build()
        .unwrap();
    let options = LoginOptions::default()
        .open_browser(false)
        .timeout(Duration::from_millis(200));
    assert_eq!(
        client.oauth().login_interactive(options).await.unwrap_err().kind(),
        ErrorKind::Timeout
    );
}

#[tokio::test]
async fn a_paste_prompt_closed_without_input_cancels_the_login() {
    let sandbox = sandbox();
    let (_, client) = web_app(&sandbox);
    let options = LoginOptions::default().open_browser(false).paste(|| None);
    assert_eq!(
        client.oauth().login_interactive(options).await.unwrap_err().kind(),
        ErrorKind::Cancelled
    );
}

/// Another local process calls the listener with `error=access_denied` but without this
/// login's state: ignored (the state is checked first), and the real login goes through.
#[tokio::test]
async fn a_forged_error_callback_cannot_abort_the_login() {
    let sandbox = sandbox();
    let options = LoginOptions::default().timeout(Duration::from_secs(20));
    let DesktopLogin {
        login, url, callback, ..
    } = start_desktop_login(&sandbox, options).await;
    let forged = format!("{callback}?error=access_denied&state=forged");
    let answer = browser().get(&forged).send().await.unwrap();
    assert!(answer.status().is_success());
    let page = browser_session(sandbox.base_url().to_owned(), url).await;
    assert!(page.contains("Autentificare reusita"));
    login.await.unwrap().expect("the forged callback was ignored");
}

#[tokio::test]
async fn a_login_without_a_time_limit_still_ends_when_the_user_gives_up() {
    let sandbox = sandbox();
    let (_, client) = web_app(&sandbox);
    let options = LoginOptions::default()
        .open_browser(false)
        .timeout(Duration::MAX)
        .paste(|| None);
    assert_eq!(
        client.oauth().login_interactive(options).await.unwrap_err().kind(),
        ErrorKind::Cancelled
    );
}

/// A local process that connects to the listener and sends nothing is dropped, instead of
/// holding one of its few connection slots for the whole login.
#[tokio::test]
async fn a_silent_connection_to_the_listener_is_dropped() {
    use tokio::io::AsyncReadExt;
    let sandbox = sandbox();
    let options = LoginOptions::default().timeout(Duration::from_secs(60));
    let DesktopLogin { login, port, .. } = start_desktop_login(&sandbox, options).await;
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buffer = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buffer)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the listener closed the silent connection"
    );
    login.abort();
}
