//! logincert.anaf.ro: the authorization URL, code exchange (HTTP Basic client authentication),
//! refresh (ANAF rotates both tokens), best-effort revocation, and the token set.
//!
//! The `oauth2` crate builds and parses the standard messages; ANAF's specifics are the
//! `token_content_type=jwt` parameter on the authorize and token requests, and the rotation.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicRequestTokenError};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse, RedirectUrl,
    RefreshToken, TokenResponse, TokenUrl,
};
use tracing::Instrument;

use crate::client::Client;
use crate::config::Application;
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;
use crate::tokens::TokenSet;

/// An authorization URL to open in the user's browser, and the `state` to expect back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub url: String,
    pub state: String,
}

/// What a revocation achieved. Local tokens are cleared either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The identity provider confirmed it (RFC 7009).
    Confirmed,
    /// It did not (ANAF's endpoint has been seen redirecting to its login wall); the tokens
    /// may stay valid until they expire or the application is deleted ("Renuntare OAuth").
    Unconfirmed,
}

/// The OAuth operations of a [`Client`].
#[derive(Clone, Copy, Debug)]
pub struct OAuth<'a> {
    pub(crate) client: &'a Client,
}

/// Adapts the client's reqwest pool (timeouts, proxy, trusted roots) to `oauth2`.
async fn send_oauth(http: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut builder = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(builder
        .body(body)
        .expect("status and headers come from a valid response"))
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
        let http = self.inner.http.clone();
        let client = move |request| send_oauth(http.clone(), request);
        let span = tracing::info_span!(
            "anaf.call",
            operation = "oauth.refresh",
            endpoint = "/anaf-oauth2/v1/token"
        );
        let response = oauth
            .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_owned()))
            .add_extra_param("token_content_type", "jwt")
            .request_async(&client)
            .instrument(span)
            .await
            .map_err(oauth_error)?;
        Ok(token_set(&response, Some(&refresh_token)))
    }
}

fn token_set(response: &oauth2::basic::BasicTokenResponse, previous_refresh: Option<&Secret>) -> TokenSet {
    let access = Secret::new(response.access_token().secret().clone());
    // ANAF always sends a refresh token; should one ever be missing, keep the one we have.
    let refresh = response
        .refresh_token()
        .map(|r| Secret::new(r.secret().clone()))
        .or_else(|| previous_refresh.cloned())
        .unwrap_or_else(|| Secret::new(""));
    TokenSet::from_response(access, refresh, response.expires_in(), chrono::Utc::now())
}

/// Maps `oauth2`'s errors without ever quoting a response body (a successful body that failed
/// to parse would hold tokens).
fn oauth_error(error: BasicRequestTokenError<reqwest::Error>) -> Error {
    match error {
        oauth2::RequestTokenError::ServerResponse(response) => server_error(&response),
        oauth2::RequestTokenError::Request(e) => crate::transport::transport_error(e),
        oauth2::RequestTokenError::Parse(_, _) => Error::new(
            ErrorKind::UnexpectedResponse,
            "the token endpoint answered something that is not a token response",
        ),
        oauth2::RequestTokenError::Other(text) => Error::new(
            ErrorKind::UnexpectedResponse,
            format!("the token endpoint failed: {text}"),
        ),
    }
}

fn server_error(response: &BasicErrorResponse) -> Error {
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
        .with_status(400)
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

impl OAuth<'_> {
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
    pub async fn exchange_code(&self, code: &str) -> Result<TokenSet, Error> {
        let app = self.client.application()?;
        let oauth = self.client.oauth2_client(app)?;
        let http = self.client.inner.http.clone();
        let client = move |request| send_oauth(http.clone(), request);
        let span = tracing::info_span!(
            "anaf.call",
            operation = "oauth.exchange_code",
            endpoint = "/anaf-oauth2/v1/token"
        );
        let response = oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .add_extra_param("token_content_type", "jwt")
            .request_async(&client)
            .instrument(span)
            .await
            .map_err(oauth_error)?;
        if response.refresh_token().is_none() {
            return Err(Error::new(
                ErrorKind::UnexpectedResponse,
                "the token endpoint issued no refresh token",
            )
            .with_hint("ANAF always issues one; without it the login would end when the access token expires"));
        }
        let tokens = token_set(&response, None);
        self.client.inner.tokens.install(tokens.clone()).await?;
        Ok(tokens)
    }

    /// Finishes a login from the URL the browser was redirected to: checks `state` (against
    /// cross-site request forgery), turns an `error=` into an [`ErrorKind::OAuth`] error, and
    /// exchanges the code.
    pub async fn complete_authorization(&self, redirected_url: &str, expected_state: &str) -> Result<TokenSet, Error> {
        let code = code_from_redirect(redirected_url, expected_state)?;
        self.exchange_code(code.expose()).await
    }

    /// Renews the tokens now (normally automatic before expiry).
    pub async fn refresh(&self) -> Result<TokenSet, Error> {
        let (current, generation) = self.client.inner.tokens.snapshot()?;
        let used = current.map(|t| t.access_token);
        let client = self.client.clone();
        self.client
            .inner
            .tokens
            .renew(generation, used, move |refresh| async move {
                client.refresh_grant(refresh).await
            })
            .await
    }

    /// Revokes the refresh token (which ends its whole grant) and clears the stored tokens.
    /// Best effort: see [`Revocation`].
    pub async fn revoke(&self) -> Result<Revocation, Error> {
        let app = self.client.application()?;
        let Some(tokens) = self.client.inner.tokens.snapshot()?.0 else {
            return Ok(Revocation::Confirmed);
        };
        // Written by hand: `oauth2` insists on an HTTPS revocation URL, which rules out the
        // loopback sandbox; the request itself is plain RFC 7009.
        let encode = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let request = self
            .client
            .inner
            .http
            .post(self.client.oauth_url("anaf-oauth2/v1/revoke"))
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
        let outcome = match request.send().instrument(span).await {
            Ok(response) if response.status().is_success() => Revocation::Confirmed,
            Ok(response) => {
                tracing::debug!(status = response.status().as_u16(), "revocation not confirmed");
                Revocation::Unconfirmed
            }
            Err(e) => {
                self.client.inner.tokens.clear().await?;
                return Err(crate::transport::transport_error(e));
            }
        };
        self.client.inner.tokens.clear().await?;
        Ok(outcome)
    }

    /// The current tokens, if any (loaded from the store the first time).
    pub fn tokens(&self) -> Result<Option<TokenSet>, Error> {
        Ok(self.client.inner.tokens.snapshot()?.0)
    }

    /// Installs tokens obtained elsewhere (saved earlier, or from another program).
    pub fn set_tokens(&self, tokens: TokenSet) -> Result<(), Error> {
        self.client.inner.tokens.install_now(tokens)
    }

    /// Forgets the tokens (locally only; see [`OAuth::revoke`]).
    pub fn clear_tokens(&self) -> Result<(), Error> {
        self.client.inner.tokens.clear_now()
    }
}

/// The code in a redirect URL, after checking its `state`.
pub(crate) fn code_from_redirect(redirected_url: &str, expected_state: &str) -> Result<Secret, Error> {
    let url = url::Url::parse(redirected_url.trim())
        .map_err(|e| Error::invalid_input("redirected_url", format!("not a URL: {e}")))?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    if let Some(code) = param("error") {
        return Err(redirect_error(&code, param("error_description").as_deref()));
    }
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
