//! logincert.anaf.ro: the authorization page, the token endpoint (code exchange and refresh
//! with rotation), revocation, and the Bearer check api.anaf.ro makes on every call.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use quick_xml::escape::escape;
use serde::Serialize;
use serde_json::json;

use crate::RevokeBehaviour;
use crate::keys::{keys, random_hex};
use crate::model::Service;
use crate::state::{Caller, CodeGrant, Shared, State as SandboxState, TokenKind, TokenRecord};

type Params = Vec<(String, String)>;

pub(crate) fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A form body of at most 64 KB (an OAuth form is a few hundred bytes); `None` if larger or
/// broken off.
async fn read_form(body: Body) -> Option<Params> {
    const LIMIT: usize = 64 * 1024;
    let body = crate::body::read_capped(body, LIMIT)
        .await
        .ok()
        .filter(|b| !b.too_large(LIMIT))?;
    Some(form_urlencoded::parse(&body.bytes).into_owned().collect())
}

/// Why an authorization request cannot even be shown (no redirect is made in these cases,
/// RFC 6749 §4.1.2.1).
pub(crate) fn check_client_redirect(state: &SandboxState, client_id: &str, redirect_uri: &str) -> Result<(), String> {
    let app = state
        .apps
        .get(client_id)
        .ok_or_else(|| format!("Aplicatia cu client_id={client_id} nu este inregistrata."))?;
    if !app.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(format!(
            "Redirect-URI {redirect_uri} does not match the callback URLs registered for this application."
        ));
    }
    Ok(())
}

/// Issues a single-use code for `serial` (what the browser flow ends with).
pub(crate) fn issue_code(
    state: &mut SandboxState,
    now: DateTime<Utc>,
    client_id: &str,
    redirect_uri: &str,
    serial: &str,
    jwt: bool,
) -> Result<String, String> {
    check_client_redirect(state, client_id, redirect_uri)?;
    if !state.identities.contains_key(serial) {
        return Err(format!("No identity with certificate serial {serial}."));
    }
    let code = random_hex(24);
    state.codes.insert(
        code.clone(),
        CodeGrant {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            serial: serial.to_owned(),
            issued_at: now,
            jwt,
            used: false,
        },
    );
    Ok(code)
}

/// `redirect_uri` with `params` appended to its query.
pub(crate) fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = redirect_uri.to_owned();
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        url.push(separator);
        url.push_str(k);
        url.push('=');
        url.extend(form_urlencoded::byte_serialize(v.as_bytes()));
        separator = '&';
    }
    url
}

fn found(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"ro\"><head><meta charset=\"utf-8\"><title>ANAF OAuth - eroare</title></head>\
         <body><h1>Eroare autorizare</h1><p id=\"error\">{}</p></body></html>",
        escape(message)
    );
    (status, Html(body)).into_response()
}

pub(crate) async fn authorize_page(State(shared): State<Arc<Shared>>, Query(params): Query<Params>) -> Response {
    let client_id = param(&params, "client_id").unwrap_or_default();
    let redirect_uri = param(&params, "redirect_uri").unwrap_or_default();
    let state_param = param(&params, "state").unwrap_or_default();
    let state = shared.lock();
    if let Err(message) = check_client_redirect(&state, client_id, redirect_uri) {
        return error_page(StatusCode::BAD_REQUEST, &message);
    }
    if param(&params, "response_type") != Some("code") {
        let mut back = vec![("error", "unsupported_response_type")];
        if !state_param.is_empty() {
            back.push(("state", state_param));
        }
        return found(&redirect_with(redirect_uri, &back));
    }
    let app_name = state.apps.get(client_id).map(|a| a.name.clone()).unwrap_or_default();
    let mut identities = String::new();
    for (i, identity) in state.identities.values().enumerate() {
        let cifs: Vec<&str> = identity.cifs.iter().map(String::as_str).collect();
        identities.push_str(&format!(
            "<li><label><input type=\"radio\" name=\"serial\" value=\"{serial}\"{checked}> {name} \
             (serial {serial}; CIF: {cifs})</label></li>",
            serial = escape(&identity.serial),
            checked = if i == 0 { " checked" } else { "" },
            name = escape(&identity.name),
            cifs = escape(cifs.join(", ")),
        ));
    }
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        )
    };
    let body = format!(
        "<!doctype html><html lang=\"ro\"><head><meta charset=\"utf-8\"><title>ANAF OAuth - autentificare (sandbox)</title></head><body>\
         <h1>Autentificare cu certificat digital (sandbox)</h1>\
         <p>Aplicatia <strong>{app}</strong> solicita acces la serviciile ANAF in numele dumneavoastra.</p>\
         <p>Alegeti certificatul (in sandbox: identitatea) cu care va autentificati:</p>\
         <form method=\"post\" action=\"/anaf-oauth2/v1/authorize\">{h1}{h2}{h3}{h4}\
         <ul>{identities}</ul>\
         <button type=\"submit\" name=\"action\" value=\"approve\">Autentificare</button> \
         <button type=\"submit\" name=\"action\" value=\"deny\">Renunta</button>\
         </form></body></html>",
        app = escape(&app_name),
        h1 = hidden("client_id", client_id),
        h2 = hidden("redirect_uri", redirect_uri),
        h3 = hidden("state", state_param),
        h4 = hidden(
            "token_content_type",
            param(&params, "token_content_type").unwrap_or_default()
        ),
    );
    Html(body).into_response()
}

/// The form on the authorization page posts here; so can a script (`curl -d`), which is the
/// documented non-interactive way to get a code.
pub(crate) async fn authorize_submit(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let Some(form) = read_form(body).await else {
        return error_page(StatusCode::BAD_REQUEST, "Cererea este prea mare.");
    };
    let client_id = param(&form, "client_id").unwrap_or_default();
    let redirect_uri = param(&form, "redirect_uri").unwrap_or_default();
    let state_param = param(&form, "state").unwrap_or_default();
    let now = shared.now();
    let mut state = shared.lock();
    if let Err(message) = check_client_redirect(&state, client_id, redirect_uri) {
        return error_page(StatusCode::BAD_REQUEST, &message);
    }
    let with_state = |mut params: Vec<(&'static str, String)>| {
        if !state_param.is_empty() {
            params.push(("state", state_param.to_owned()));
        }
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        redirect_with(redirect_uri, &borrowed)
    };
    if param(&form, "action") == Some("deny") {
        // What ANAF's IdP answers when no certificate was presented.
        return found(&with_state(vec![("error", "access_denied".into())]));
    }
    let serial = param(&form, "serial").unwrap_or_default();
    let jwt = param(&form, "token_content_type") == Some("jwt");
    match issue_code(&mut state, now, client_id, redirect_uri, serial, jwt) {
        Ok(code) => found(&with_state(vec![("code", code)])),
        Err(message) => error_page(StatusCode::BAD_REQUEST, &message),
    }
}

fn oauth_error(error: &str, description: &str) -> Response {
    let mut response = (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Client authentication: HTTP Basic (documented) or `client_id`/`client_secret` in the body
/// (what several production integrations send). Returns the authenticated client ID.
fn authenticate_client(state: &SandboxState, headers: &HeaderMap, form: &[(String, String)]) -> Option<String> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
            let decode = |s: &str| {
                form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    let (client_id, secret) = match basic {
        Some(pair) => pair,
        None => (
            param(form, "client_id")?.to_owned(),
            param(form, "client_secret")?.to_owned(),
        ),
    };
    let app = state.apps.get(&client_id)?;
    constant_time_eq(app.client_secret.as_bytes(), secret.as_bytes()).then_some(client_id)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    token_type: &'a str,
    scope: &'a str,
    clientappid: &'a str,
    serial: &'a str,
    role: String,
    jti: String,
}

/// Whom a token is for: the application, the certificate, and the grant it descends from.
#[derive(Clone, Copy)]
struct Subject<'a> {
    client_id: &'a str,
    serial: &'a str,
    grant: u64,
    jwt: bool,
}

/// The `role` claim: what both the user and the application may use; every token reaches
/// TestOauth ("HELLO").
fn roles(state: &SandboxState, client_id: &str, serial: &str) -> String {
    let mut roles = vec!["HELLO"];
    let app = state.apps.get(client_id);
    let user = state.identities.get(serial);
    for service in Service::ALL {
        if app.is_some_and(|a| a.services.contains(&service)) && user.is_some_and(|u| u.services.contains(&service)) {
            roles.push(service.role());
        }
    }
    roles.join(", ")
}

/// Makes a token and its record. Pure (no sandbox state), so the RSA signature is computed
/// outside the sandbox lock.
fn mint(
    shared: &Shared,
    roles: &str,
    now: DateTime<Utc>,
    kind: TokenKind,
    subject: &Subject<'_>,
) -> (String, TokenRecord, i64) {
    let Subject {
        client_id,
        serial,
        grant,
        jwt,
    } = *subject;
    let lifetime = match kind {
        TokenKind::Access => shared.options.access_token_lifetime,
        TokenKind::Refresh => shared.options.refresh_token_lifetime,
    };
    let lifetime = chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::days(365));
    let expires_at = now.checked_add_signed(lifetime).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let token = if jwt {
        let claims = Claims {
            iss: "https://logincert.anaf.ro",
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            token_type: if kind == TokenKind::Access { "Bearer" } else { "Refresh" },
            scope: "clientappid info issuer role serial",
            clientappid: client_id,
            serial,
            role: roles.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS512);
        header.kid = Some("anaf_sandbox".into());
        jsonwebtoken::encode(&header, &claims, &keys().jwt_encoding).expect("RS512 signing with the embedded key")
    } else {
        random_hex(48)
    };
    let record = TokenRecord {
        kind,
        client_id: client_id.to_owned(),
        serial: serial.to_owned(),
        grant,
        jwt,
        issued_at: now,
        expires_at,
        revoked: false,
    };
    (token, record, lifetime.num_seconds())
}

fn token_response(access: String, expires_in: i64, refresh: String) -> Response {
    let mut response = axum::Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": refresh,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Request-log note: which grant the token endpoint served and for whom.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogNote {
    pub client_id: Option<String>,
    pub serial: Option<String>,
    pub detail: Option<String>,
}

pub(crate) async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let Some(form) = read_form(body).await else {
        return oauth_error("invalid_request", "The request body is too large");
    };
    let grant_type = param(&form, "grant_type").unwrap_or_default().to_owned();
    let now = shared.now();
    let mut state = shared.lock();
    let Some(client_id) = authenticate_client(&state, &headers, &form) else {
        return oauth_error("invalid_client", "Client authentication failed");
    };
    let wants_jwt = param(&form, "token_content_type") == Some("jwt");
    let (serial, grant, jwt) = match grant_type.as_str() {
        "authorization_code" => {
            let Some(code) = param(&form, "code") else {
                return oauth_error("invalid_request", "The code parameter is required");
            };
            let lifetime =
                chrono::Duration::from_std(shared.options.code_lifetime).unwrap_or(chrono::Duration::seconds(60));
            let Some(grant) = state.codes.get_mut(code) else {
                return oauth_error("invalid_grant", "The authorization code is invalid");
            };
            if grant.used {
                return oauth_error("invalid_grant", "The authorization code was already used");
            }
            if grant.client_id != client_id {
                return oauth_error("invalid_grant", "The authorization code was issued to another client");
            }
            if now - grant.issued_at > lifetime {
                return oauth_error("invalid_grant", "The authorization code has expired");
            }
            if not_yet_valid(grant.issued_at, &shared.options, now) {
                return oauth_error("invalid_grant", "The authorization code is not valid yet");
            }
            if param(&form, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
                return oauth_error(
                    "invalid_grant",
                    "The redirect_uri does not match the authorization request",
                );
            }
            grant.used = true;
            let (serial, jwt) = (grant.serial.clone(), grant.jwt || wants_jwt);
            state.next_grant += 1;
            (serial, state.next_grant, jwt)
        }
        "refresh_token" => {
            let Some(presented) = param(&form, "refresh_token") else {
                return oauth_error("invalid_request", "The refresh_token parameter is required");
            };
            let record = match state.tokens.get_mut(presented) {
                Some(r) if r.kind == TokenKind::Refresh && r.client_id == client_id => r,
                _ => return oauth_error("invalid_grant", "The refresh token is invalid"),
            };
            if record.revoked {
                return oauth_error("invalid_grant", "The refresh token was revoked or already used");
            }
            if record.expires_at <= now {
                return oauth_error("invalid_grant", "The refresh token has expired");
            }
            if not_yet_valid(record.issued_at, &shared.options, now) {
                return oauth_error("invalid_grant", "The refresh token is not valid yet");
            }
            if shared.options.rotate_refresh_tokens {
                record.revoked = true;
            }
            (record.serial.clone(), record.grant, record.jwt || wants_jwt)
        }
        "" => return oauth_error("invalid_request", "The grant_type parameter is required"),
        _ => {
            return oauth_error(
                "unsupported_grant_type",
                "Only authorization_code and refresh_token are supported",
            );
        }
    };
    let roles = roles(&state, &client_id, &serial);
    drop(state);
    let subject = Subject {
        client_id: &client_id,
        serial: &serial,
        grant,
        jwt,
    };
    let (access, access_record, expires_in) = mint(&shared, &roles, now, TokenKind::Access, &subject);
    let (refresh, refresh_record, _) = mint(&shared, &roles, now, TokenKind::Refresh, &subject);
    let mut state = shared.lock();
    state.tokens.insert(access.clone(), access_record);
    state.tokens.insert(refresh.clone(), refresh_record);
    drop(state);
    let mut response = token_response(access, expires_in, refresh);
    response.extensions_mut().insert(LogNote {
        client_id: Some(client_id),
        serial: Some(serial),
        detail: Some(format!("grant_type={grant_type}")),
    });
    response
}

/// RFC 7009 revocation. Accepts `token` (+ `token_type_hint`) and the `access_token` /
/// `refresh_token` field variants some clients send. Revoking a refresh token ends its whole
/// grant; revoking an access token ends that token.
pub(crate) async fn revoke(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    if shared.options.revoke == RevokeBehaviour::LoginWall {
        return found("/my.policy");
    }
    let Some(form) = read_form(body).await else {
        return oauth_error("invalid_request", "The request body is too large");
    };
    let mut state = shared.lock();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = ["token", "refresh_token", "access_token"]
        .iter()
        .find_map(|k| param(&form, k))
        .or(bearer)
    else {
        return oauth_error("invalid_request", "The token parameter is required");
    };
    let token = token.to_owned();
    let owner = state.tokens.get(&token).map(|r| r.client_id.clone());
    // RFC 7009 clients authenticate; some (the Go client) send only the token, so holding a
    // known token is accepted as the right to end it.
    let client_id = match authenticate_client(&state, &headers, &form) {
        Some(client_id) => client_id,
        None => match owner.clone() {
            Some(owner) => owner,
            None => return oauth_error("invalid_client", "Client authentication failed"),
        },
    };
    let target = state
        .tokens
        .get(&token)
        .filter(|r| r.client_id == client_id)
        .map(|r| (r.kind, r.grant));
    match target {
        Some((TokenKind::Refresh, grant)) => {
            for record in state.tokens.values_mut().filter(|r| r.grant == grant) {
                record.revoked = true;
            }
        }
        Some((TokenKind::Access, _)) => {
            if let Some(record) = state.tokens.get_mut(&token) {
                record.revoked = true;
            }
        }
        // Unknown tokens are not an error (RFC 7009 §2.2).
        None => {}
    }
    let mut response = StatusCode::OK.into_response();
    response.extensions_mut().insert(LogNote {
        client_id: Some(client_id),
        ..LogNote::default()
    });
    response
}

/// The F5 login wall that ANAF's real `/revoke` redirects to.
pub(crate) async fn login_wall() -> Response {
    Html("<!doctype html><html><head><title>Logon</title></head><body><p>Access policy evaluation (sandbox).</p></body></html>")
        .into_response()
}

/// Whether something issued at `issued_at` (a token's `iat` and `nbf`) is still in the future
/// of the sandbox clock, beyond the allowed clock skew: the clock was moved back.
fn not_yet_valid(issued_at: DateTime<Utc>, options: &crate::SandboxOptions, now: DateTime<Utc>) -> bool {
    let leeway = chrono::Duration::from_std(options.token_leeway).unwrap_or(chrono::Duration::MAX);
    now.checked_add_signed(leeway).is_some_and(|latest| issued_at > latest)
}

/// The Bearer check of api.anaf.ro: who is calling, or why the token is refused (HTTP 401).
pub(crate) fn authenticate(
    state: &SandboxState,
    options: &crate::SandboxOptions,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Caller, &'static str> {
    let record = state.tokens.get(token).ok_or("unknown token")?;
    if record.kind != TokenKind::Access {
        return Err("not an access token");
    }
    if record.revoked {
        return Err("token revoked");
    }
    if record.expires_at <= now {
        return Err("token expired");
    }
    if not_yet_valid(record.issued_at, options, now) {
        return Err("token not valid yet (iat/nbf after the sandbox clock)");
    }
    if !state.apps.contains_key(&record.client_id) {
        return Err("the application was deleted (Renuntare OAuth)");
    }
    Ok(Caller {
        serial: record.serial.clone(),
        client_id: record.client_id.clone(),
    })
}
