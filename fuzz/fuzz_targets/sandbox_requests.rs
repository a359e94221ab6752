//! What a user's program sends to the sandbox's OAuth forms (token, authorize, revoke), the
//! authorize page's query and the signature check's multipart body, through the sandbox's
//! own routes in memory: forms built from ANAF's keys with fuzzed values (a real client ID,
//! secret and fresh code among them), raw bodies and content types. Whatever arrives, the
//! sandbox answers as ANAF would: never a panic, never a 5xx of its own.
#![no_main]

use std::sync::LazyLock;

use anaf_sandbox::fuzzing::Routes;
use anaf_sandbox::{Sandbox, SandboxOptions};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

static SANDBOX: LazyLock<Sandbox> = LazyLock::new(|| Sandbox::start(SandboxOptions::default()).unwrap());
static ROUTES: LazyLock<Routes> = LazyLock::new(|| Routes::new(&SANDBOX));

#[derive(Arbitrary, Debug)]
enum Key<'a> {
    GrantType,
    Code,
    ClientId,
    ClientSecret,
    RedirectUri,
    RefreshToken,
    Token,
    TokenTypeHint,
    TokenContentType,
    State,
    Serial,
    Action,
    ResponseType,
    Other(&'a str),
}

#[derive(Arbitrary, Debug)]
enum Value<'a> {
    Text(&'a str),
    TheClientId,
    TheClientSecret,
    TheRedirectUri,
    TheSerial,
    AFreshCode,
    AuthorizationCode,
    RefreshTokenGrant,
    Jwt,
}

#[derive(Arbitrary, Debug)]
enum Form<'a> {
    Pairs(Vec<(Key<'a>, Value<'a>)>),
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
enum Call<'a> {
    Token(Form<'a>),
    AuthorizeSubmit(Form<'a>),
    Revoke(Form<'a>),
    AuthorizePage(Form<'a>),
    Signature {
        boundary: &'a str,
        parts: Vec<(&'a str, &'a [u8])>,
    },
    SignatureRaw {
        content_type: &'a [u8],
        body: &'a [u8],
    },
}

impl Key<'_> {
    fn name(&self) -> &str {
        match self {
            Key::GrantType => "grant_type",
            Key::Code => "code",
            Key::ClientId => "client_id",
            Key::ClientSecret => "client_secret",
            Key::RedirectUri => "redirect_uri",
            Key::RefreshToken => "refresh_token",
            Key::Token => "token",
            Key::TokenTypeHint => "token_type_hint",
            Key::TokenContentType => "token_content_type",
            Key::State => "state",
            Key::Serial => "serial",
            Key::Action => "action",
            Key::ResponseType => "response_type",
            Key::Other(name) => name,
        }
    }
}

impl Value<'_> {
    fn text(&self) -> String {
        let info = SANDBOX.info();
        match self {
            Value::Text(text) => (*text).to_owned(),
            Value::TheClientId => info.application.client_id,
            Value::TheClientSecret => info.application.client_secret,
            Value::TheRedirectUri => info.application.redirect_uris.first().cloned().unwrap_or_default(),
            Value::TheSerial => info.identity.serial,
            Value::AFreshCode => SANDBOX.authorize(&SANDBOX.default_authorize_request()).unwrap().code,
            Value::AuthorizationCode => "authorization_code".into(),
            Value::RefreshTokenGrant => "refresh_token".into(),
            Value::Jwt => "jwt".into(),
        }
    }
}

impl Form<'_> {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Form::Pairs(pairs) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for (key, value) in pairs {
                    form.append_pair(key.name(), &value.text());
                }
                form.finish().into_bytes()
            }
            Form::Raw(bytes) => bytes.to_vec(),
        }
    }
}

const FORM: &[u8] = b"application/x-www-form-urlencoded";

fuzz_target!(|call: Call| {
    let (path, content_type, body) = match &call {
        Call::Token(form) => ("/anaf-oauth2/v1/token".to_owned(), FORM.to_vec(), form.bytes()),
        Call::AuthorizeSubmit(form) => ("/anaf-oauth2/v1/authorize".to_owned(), FORM.to_vec(), form.bytes()),
        Call::Revoke(form) => ("/anaf-oauth2/v1/revoke".to_owned(), FORM.to_vec(), form.bytes()),
        Call::AuthorizePage(form) => {
            let query = String::from_utf8_lossy(&form.bytes()).into_owned();
            let path = format!("/anaf-oauth2/v1/authorize?{query}");
            let (status, _) = ROUTES.send("GET", &path, b"", Vec::new());
            assert!(status < 500, "the authorize page answered {status} to {path:?}");
            return;
        }
        Call::Signature { boundary, parts } => {
            let mut body = Vec::new();
            for (name, bytes) in parts {
                body.extend_from_slice(
                    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.xml\"\r\nContent-Type: text/xml\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            let content_type = format!("multipart/form-data; boundary={boundary}").into_bytes();
            ("/api/validate/signature".to_owned(), content_type, body)
        }
        Call::SignatureRaw { content_type, body } => (
            "/api/validate/signature".to_owned(),
            content_type.to_vec(),
            body.to_vec(),
        ),
    };
    let (status, answer) = ROUTES.send("POST", &path, &content_type, body);
    assert!(
        status < 500,
        "{path} answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
});
