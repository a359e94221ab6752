//! logincert.anaf.ro: the authorization URL, code exchange (HTTP Basic client authentication),
//! refresh (ANAF rotates both tokens), best-effort revocation, and the token set.
//!
//! The `oauth2` crate builds and parses the standard messages; ANAF's specifics are the
//! `token_content_type=jwt` parameter on the authorize and token requests, and the rotation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse, RedirectUrl,
    RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use serde::Serialize;
use tracing::Instrument;

use crate::client::Client;
use crate::config::Application;
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;
use crate::tokens::{TokenChange, TokenSet, TokenStatus, Trigger};

/// An authorization URL to open in the user's browser, and the `state` to expect back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    pub url: String,
    pub state: String,
}

/// What a revocation achieved. Local tokens are cleared either way. Serialised as
/// `confirmed` / `unconfirmed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Revocation {
    /// The identity provider confirmed it (RFC 7009).
    Confirmed,
    /// It did not (ANAF's endpoint has been seen redirecting to its login wall); the tokens
    /// may stay valid until they expire or the application is deleted ("Renuntare OAuth").
    Unconfirmed,
}

impl Revocation {
    pub fn code(self) -> &'static str {
        match self {
            Revocation::Confirmed => "confirmed",
            Revocation::Unconfirmed => "unconfirmed",
        }
    }
}

parse_codes!(
    Revocation,
    "revocation outcome",
    [Revocation::Confirmed, Revocation::Unconfirmed]
);

/// The OAuth operations of a [`Client`]. Owns a clone of the client (cheap).
#[derive(Clone, Debug)]
pub struct OAuth {
    pub(crate) client: Client,
}

/// What the token endpoint answered, seen by the adapter below: `oauth2` reports a refused
/// grant without its HTTP status, and an unparsable answer without anything.
#[derive(Default)]
struct Seen {
    status: Option<u16>,
    location: Option<String>,
    /// The start of a non-2xx body (which holds no token).
    excerpt: Option<String>,
}

/// Adapts the client's reqwest pool (timeouts, proxy, trusted roots, body cap) to `oauth2`.
async fn send_oauth(client: Client, seen: Arc<Mutex<Seen>>, request: HttpRequest) -> Result<HttpResponse, Error> {
    let (parts, body) = request.into_parts();
    let response = client
        .http()?
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            // Anything after the connection was made may have reached the identity provider.
            let connected = !e.is_connect();
            let error = crate::transport::transport_error(e);
            if connected {
                error.with_delivery_unknown()
            } else {
                error
            }
        })?;
    let status = response.status();
    let mut builder = oauth2::http::Response::builder().status(status);
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Past this point the request reached the identity provider: a refresh may have rotated
    // the tokens even if the answer never arrives.
    let body = crate::transport::read_body(response, client.inner.max_response_bytes)
        .await
        .map_err(Error::with_delivery_unknown)?;
    {
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.status = Some(status.as_u16());
        seen.location = location;
        if !status.is_success() {
            seen.excerpt = Some(crate::error::excerpt(&body));
        }
    }
    builder
        .body(body.to_vec())
        .map_err(|e| Error::internal("cannot pass the token answer on").with_source(e))
}

type AnafOAuthClient = BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

impl Client {
    fn oauth2_client(&self, app: &Application) -> Result<AnafOAuthClient, Error> {
        let url = |path: &str| self.oauth_url(path).to_string();
        let redirect = RedirectUrl::new(app.redirect_uri.clone())
            .map_err(|e| Error::invalid_input("redirect_uri", format!("the redirect URI is not a URL: {e}")))?;
        Ok(BasicClient::new(ClientId::new(app.client_id.clone()))
            .set_client_secret(ClientSecret::new(app.client_secret.expose().to_owned()))
            .set_auth_uri(AuthUrl::new(url("anaf-oauth2/v1/authorize")).expect("valid"))
            .set_token_uri(TokenUrl::new(url("anaf-oauth2/v1/token")).expect("valid"))
            .set_redirect_uri(redirect))
    }

    /// The refresh grant: new access and refresh tokens (the old refresh token stops working).
    pub(crate) async fn refresh_grant(&self, refresh_token: Secret) -> Result<TokenSet, Error> {
        let app = self.application()?;
        let oauth = self.oauth2_client(app)?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (client, seen_by_adapter) = (self.clone(), seen.clone());
        let http = move |request| send_oauth(client.clone(), seen_by_adapter.clone(), request);
        let span = tracing::info_span!(
            "anaf.call",
            operation = "oauth.refresh",
            endpoint = "/anaf-oauth2/v1/token"
        );
        let response = oauth
            .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_owned()))
            .add_extra_param("token_content_type", "jwt")
            .request_async(&http)
            .instrument(span)
            .await
            .map_err(|e| oauth_error(e, &seen))?;
        Ok(token_set(&response, Some(&refresh_token)))
    }
}

pub(crate) fn token_set(response: &oauth2::basic::BasicTokenResponse, previous_refresh: Option<&Secret>) -> TokenSet {
    let access = Secret::new(response.access_token().secret().clone());
    // ANAF always sends a refresh token; should one ever be missing, keep the one we have.
    let refresh = response
        .refresh_token()
        .map(|r| Secret::new(r.secret().clone()))
        .or_else(|| previous_refresh.cloned())
        .unwrap_or_else(|| Secret::new(""));
    TokenSet::from_response(access, refresh, response.expires_in(), chrono::Utc::now())
}

/// Maps `oauth2`'s errors, keeping the status the identity provider sent. A successful body
/// is never quoted (one that failed to parse would hold tokens); an error body may be.
fn oauth_error(error: RequestTokenError<Error, BasicErrorResponse>, seen: &Mutex<Seen>) -> Error {
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|p| p.into_inner()));
    if let Some(status @ 300..=399) = seen.status
        && !matches!(error, RequestTokenError::Request(_))
    {
        return crate::transport::redirect_error(status, seen.location.as_deref());
    }
    match error {
        RequestTokenError::ServerResponse(response) => server_error(&response, seen.status.unwrap_or(400)),
        RequestTokenError::Request(e) => e,
        RequestTokenError::Parse(_, _) => unparsable_token_answer(seen.status, seen.excerpt),
        RequestTokenError::Other(text) => {
            let error = Error::new(
                ErrorKind::UnexpectedResponse,
                format!("the token endpoint failed: {text}"),
            );
            match seen.status {
                Some(status) => error.with_status(status),
                None => error,
            }
        }
    }
}

/// A token endpoint answer that is neither tokens nor an OAuth error. The body is quoted only
/// when the status says it failed (`excerpt`): a successful body could hold tokens.
pub(crate) fn unparsable_token_answer(status: Option<u16>, excerpt: Option<String>) -> Error {
    match status {
        Some(status) if !(200..=299).contains(&status) => Error::new(
            ErrorKind::UnexpectedResponse,
            "the token endpoint failed without an OAuth error",
        )
        .with_status(status)
        .with_anaf_message(excerpt.unwrap_or_default()),
        status => {
            let mut error = Error::new(
                ErrorKind::UnexpectedResponse,
                "the token endpoint answered something that is not a token response",
            );
            if let Some(status) = status {
                error = error.with_status(status);
            }
            // ANAF processed the request: a refresh may have rotated the tokens.
            error.with_delivery_unknown()
        }
    }
}

pub(crate) fn server_error(response: &BasicErrorResponse, status: u16) -> Error {
    let code = response.error().as_ref().to_owned();
    let description = response.error_description().cloned().unwrap_or_default();
    let hint = match code.as_str() {
        "invalid_grant" => {
            "the code expired (60 s), was already used, or the refresh token was rotated or revoked; \
                            log in again if this persists"
        }
        "invalid_client" => "the client ID or secret is wrong, or the application was deleted in the portal",
        _ => "",
    };
    let mut error = Error::new(ErrorKind::OAuth, format!("the identity provider refused: {code}"))
        .with_status(status)
        .with_oauth_error(code);
    if !description.is_empty() {
        error = error.with_anaf_message(description);
    }
    if !hint.is_empty() {
        error = error.with_hint(hint);
    }
    error
}

/// The error for an `error=...` redirect from the authorization page.
pub(crate) fn redirect_error(code: &str, description: Option<&str>) -> Error {
    let mut error =
        Error::new(ErrorKind::OAuth, format!("the authorization was not granted: {code}")).with_oauth_error(code);
    if let Some(description) = description {
        error = error.with_anaf_message(description);
    }
    if code == "access_denied" {
        error = error.with_hint(
            "no certificate was presented: the USB token may not be inserted, or the certificate was not chosen \
             in the browser's prompt",
        );
    }
    error
}

impl OAuth {
    /// The URL to open in the browser (it carries `token_content_type=jwt` and a random
    /// `state` unless you give one), and the state to check on the callback.
    pub fn authorization_url(&self, state: Option<&str>) -> Result<AuthorizationRequest, Error> {
        let app = self.client.application()?;
        let oauth = self.client.oauth2_client(app)?;
        let csrf = match state {
            Some(s) => CsrfToken::new(s.to_owned()),
            None => CsrfToken::new_random(),
        };
        let (url, state) = oauth
            .authorize_url(|| csrf)
            .add_extra_param("token_content_type", "jwt")
            .url();
        Ok(AuthorizationRequest {
            url: url.to_string(),
            state: state.secret().clone(),
        })
    }

    /// Exchanges an authorization code (valid 60 s) for tokens, stores them and returns them.
    /// If the store refuses them, the error says so; the tokens are in use anyway (kept in
    /// memory, saved on a later call).
    pub async fn exchange_code(&self, code: &str) -> Result<TokenSet, Error> {
        let app = self.client.application()?;
        let oauth = self.client.oauth2_client(app)?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (client, seen_by_adapter) = (self.client.clone(), seen.clone());
        let http = move |request| send_oauth(client.clone(), seen_by_adapter.clone(), request);
        let span = tracing::info_span!(
            "anaf.call",
            operation = "oauth.exchange_code",
            endpoint = "/anaf-oauth2/v1/token"
        );
        let response = oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .add_extra_param("token_content_type", "jwt")
            .request_async(&http)
            .instrument(span)
            .await
            .map_err(|e| oauth_error(e, &seen))?;
        if response.refresh_token().is_none() {
            return Err(Error::new(
                ErrorKind::UnexpectedResponse,
                "the token endpoint issued no refresh token",
            )
            .with_hint("ANAF always issues one; without it the login would end when the access token expires"));
        }
        let tokens = token_set(&response, None);
        self.client
            .inner
            .tokens
            .install(tokens.clone(), TokenChange::Login)
            .await?;
        Ok(tokens)
    }

    /// Finishes a login from the URL the browser was redirected to: checks `state` (against
    /// cross-site request forgery) before anything else, turns an `error=` into an
    /// [`ErrorKind::OAuth`] error, and exchanges the code.
    pub async fn complete_authorization(&self, redirected_url: &str, expected_state: &str) -> Result<TokenSet, Error> {
        let code = code_from_redirect(redirected_url, expected_state)?;
        self.exchange_code(code.expose()).await
    }

    /// Renews the tokens now (normally automatic before expiry). Works even after automatic
    /// refresh stopped (`TokenStatus::login_required`). If the store refuses the new pair the
    /// error says so; the pair is in use anyway and its save is retried on later calls.
    pub async fn refresh(&self) -> Result<TokenSet, Error> {
        let (current, generation) = self.client.inner.tokens.current().await?;
        let used = current.map(|t| t.access_token);
        let renewal = self.client.renew(generation, used, Trigger::Explicit).await?;
        match renewal.save_error {
            None => Ok(renewal.tokens),
            Some(error) => Err(error.with_hint(
                "ANAF rotated the tokens and they are in use, but the store refused them; they are kept in \
                 memory and saving is retried on the next call",
            )),
        }
    }

    /// Revokes the refresh token (which ends its whole grant) and clears the stored tokens,
    /// holding the token lock throughout (no refresh can save tokens after it). Best effort:
    /// see [`Revocation`].
    pub async fn revoke(&self) -> Result<Revocation, Error> {
        let app = self.client.application()?.clone();
        let client = self.client.clone();
        self.client
            .inner
            .tokens
            .revoke_and_clear(move |tokens| async move {
                let Some(tokens) = tokens else {
                    return Ok(Revocation::Confirmed);
                };
                // Written by hand: `oauth2` insists on an HTTPS revocation URL, which rules out
                // the loopback sandbox; the request itself is plain RFC 7009.
                let encode = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
                let request = client
                    .http()?
                    .post(client.oauth_url("anaf-oauth2/v1/revoke"))
                    .basic_auth(encode(&app.client_id), Some(encode(app.client_secret.expose())))
                    .form(&[
                        ("token", tokens.refresh_token.expose()),
                        ("token_type_hint", "refresh_token"),
                    ]);
                let span = tracing::info_span!(
                    "anaf.call",
                    operation = "oauth.revoke",
                    endpoint = "/anaf-oauth2/v1/revoke"
                );
                match request.send().instrument(span).await {
                    Ok(response) if response.status().is_success() => Ok(Revocation::Confirmed),
                    Ok(response) => {
                        tracing::debug!(status = response.status().as_u16(), "revocation not confirmed");
                        Ok(Revocation::Unconfirmed)
                    }
                    Err(e) => Err(crate::transport::transport_error(e)),
                }
            })
            .await
    }

    /// The current tokens, if any (loaded from the store the first time).
    pub async fn tokens(&self) -> Result<Option<TokenSet>, Error> {
        Ok(self.client.inner.tokens.current().await?.0)
    }

    /// Where the login stands: tokens present and their expiry, an unsaved pair, a refresh
    /// token that stopped working.
    pub async fn token_status(&self) -> Result<TokenStatus, Error> {
        self.client.inner.tokens.status().await
    }

    /// Installs tokens obtained elsewhere (saved earlier, or from another program), under the
    /// same locks as a refresh: a refresh in flight finishes first, and cannot overwrite them.
    pub async fn set_tokens(&self, tokens: TokenSet) -> Result<(), Error> {
        self.client.inner.tokens.install(tokens, TokenChange::Set).await
    }

    /// Forgets the tokens, in the store too (locally only; see [`OAuth::revoke`]), under the
    /// same locks as a refresh.
    pub async fn clear_tokens(&self) -> Result<(), Error> {
        self.client.inner.tokens.clear().await
    }

    /// Saves tokens the store refused earlier, now (the client also retries on its own before
    /// calls). Does nothing when everything is saved.
    pub async fn save_tokens(&self) -> Result<(), Error> {
        self.client.inner.tokens.flush(true).await
    }
}

/// The code in a redirect URL, after checking its `state`.
pub(crate) fn code_from_redirect(redirected_url: &str, expected_state: &str) -> Result<Secret, Error> {
    let url = url::Url::parse(redirected_url.trim())
        .map_err(|e| Error::invalid_input("redirected_url", format!("not a URL: {e}")))?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    // The state first: a redirect that does not belong to this login (another local
    // process, a stale tab) must not be able to end it, not even with an `error=`.
    if param("state").as_deref() != Some(expected_state) {
        return Err(Error::new(
            ErrorKind::OAuth,
            "the state in the redirect does not match the one sent",
        )
        .with_oauth_error("state_mismatch")
        .with_hint(
            "the redirect does not belong to this login attempt (stale tab, or a forged request); start again",
        ));
    }
    if let Some(code) = param("error") {
        return Err(redirect_error(&code, param("error_description").as_deref()));
    }
    param("code")
        .filter(|c| !c.is_empty())
        .map(Secret::new)
        .ok_or_else(|| Error::invalid_input("redirected_url", "the redirect URL carries no code"))
}

/// How long ANAF gives to exchange a code.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_parsing_checks_state_and_maps_errors() {
        let ok = code_from_redirect("https://localhost:8443/cb?code=abc&state=s1", "s1").unwrap();
        assert_eq!(ok.expose(), "abc");
        let mismatch = code_from_redirect("https://localhost:8443/cb?code=abc&state=s2", "s1").unwrap_err();
        assert_eq!(mismatch.oauth_error(), Some("state_mismatch"));
        let denied = code_from_redirect("https://localhost:8443/cb?error=access_denied&state=s1", "s1").unwrap_err();
        let forged = code_from_redirect("https://localhost:8443/cb?error=access_denied&state=x", "s1").unwrap_err();
        assert_eq!(
            forged.oauth_error(),
            Some("state_mismatch"),
            "the state is checked before the error"
        );
        assert_eq!(
            (denied.kind(), denied.oauth_error()),
            (ErrorKind::OAuth, Some("access_denied"))
        );
        assert!(denied.hint().unwrap().contains("certificate"));
        assert_eq!(
            code_from_redirect("garbage", "s").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}
