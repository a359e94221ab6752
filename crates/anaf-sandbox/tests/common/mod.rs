//! Helpers shared by the sandbox's HTTP tests: start a sandbox, get tokens the way a client
//! does (authorization code + token endpoint over HTTP), and read ANAF's answers.

#![allow(dead_code)]

use anaf_sandbox::{Application, AuthorizeRequest, Sandbox, SandboxOptions};
use serde_json::Value;

pub const SERIAL: &str = anaf_sandbox::DEFAULT_SERIAL;
pub const CIF: &str = "8000000000";
pub const OTHER_OWN_CIF: &str = "12345674";
pub const PARTNER: &str = anaf_sandbox::PARTNER_CIF;

pub struct Harness {
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
    pub app: Application,
}

pub fn start() -> Harness {
    start_with(SandboxOptions::instant())
}

pub fn start_with(options: SandboxOptions) -> Harness {
    let sandbox = Sandbox::start(options).expect("sandbox starts");
    let app = sandbox.default_application();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Harness { sandbox, http, app }
}

#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sandbox.base_url(), path)
    }

    pub fn code_for(&self, app: &Application, serial: &str) -> String {
        self.sandbox
            .authorize(&AuthorizeRequest {
                client_id: app.client_id.clone(),
                redirect_uri: app.redirect_uris[0].clone(),
                serial: serial.into(),
                state: None,
                token_content_type: "jwt".into(),
            })
            .unwrap()
            .code
    }

    /// Exchanges a code at the token endpoint with HTTP Basic client authentication.
    pub async fn exchange(&self, app: &Application, code: &str) -> reqwest::Response {
        self.http
            .post(self.url("/anaf-oauth2/v1/token"))
            .basic_auth(&app.client_id, Some(&app.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", app.redirect_uris[0].as_str()),
                ("token_content_type", "jwt"),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn tokens_for(&self, app: &Application, serial: &str) -> Tokens {
        let code = self.code_for(app, serial);
        let response = self.exchange(app, &code).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        Tokens {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
            body,
        }
    }

    pub async fn token(&self) -> String {
        self.tokens_for(&self.app, SERIAL).await.access
    }

    pub async fn refresh(&self, app: &Application, refresh_token: &str) -> reqwest::Response {
        self.http
            .post(self.url("/anaf-oauth2/v1/token"))
            .basic_auth(&app.client_id, Some(&app.client_secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn get_text(&self, token: &str, path: &str) -> String {
        let response = self.get(token, path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.unwrap()
    }

    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let response = self.get(token, path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn post(&self, token: &str, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_text(&self, token: &str, path: &str, body: impl Into<reqwest::Body>) -> String {
        let response = self.post(token, path, body).await;
        assert_eq!(response.status(), 200, "POST {path}");
        response.text().await.unwrap()
    }

    /// Uploads an invoice for `cif` and returns the upload index.
    pub async fn upload(&self, token: &str, cif: &str, xml: String) -> u64 {
        let answer = self
            .post_text(token, &format!("/test/FCTEL/rest/upload?standard=UBL&cif={cif}"), xml)
            .await;
        attr(&answer, "index_incarcare")
            .unwrap_or_else(|| panic!("no index in {answer}"))
            .parse()
            .unwrap()
    }

    pub async fn status(&self, token: &str, index: u64) -> String {
        self.get_text(token, &format!("/test/FCTEL/rest/stareMesaj?id_incarcare={index}"))
            .await
    }
}

/// The value of an attribute in one of ANAF's small XML answers.
pub fn attr(xml: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = xml.find(&key)? + key.len();
    let end = xml[start..].find('"')? + start;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&apos;", "'")
            .replace("&#xA;", "\n"),
    )
}

/// The JWT payload, decoded (no verification: the test only reads claims).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn jwt_header(token: &str) -> Value {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

pub fn invoice(number: &str, seller: &str, buyer: &str) -> String {
    anaf_sandbox::samples::invoice_xml(&anaf_sandbox::samples::InvoiceSpec::new(number, seller, buyer))
}
