//! Tokens and where they live. ANAF rotates the refresh token on every refresh (the old one
//! stops working), so a lost save strands the user until they log in again with their
//! certificate. This module keeps that from happening:
//!
//! - [`TokenSet`]: the pair and its expiry.
//! - [`TokenStore`] (blocking) and [`AsyncTokenStore`] (async): where tokens are kept between
//!   runs; [`MemoryTokenStore`], [`FileTokenStore`] and [`CallbackTokenStore`] are provided.
//! - `manager::TokenManager`: one per store (not per client), holding the cache, the locks
//!   around every change, the single-flight refresh, the retry of a failed save and the
//!   events ([`TokenEvent`]).

mod manager;
mod owner_only;
mod stores;

use std::fmt;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

pub(crate) use manager::{Access, Hooks, Renewal, StoreRef, TokenManager, Trigger, manager_for};
#[cfg(feature = "state")]
pub(crate) use stores::lock_file;
pub use stores::{CallbackTokenStore, FileTokenStore, MemoryTokenStore};

/// ANAF's documented access-token lifetime, used when a token carries no expiry at all.
const DOCUMENTED_ACCESS_LIFETIME: Duration = Duration::from_secs(90 * 86_400);

/// An access token and the refresh token that renews it.
///
/// Not `Serialize`: the tokens are secrets, so writing them out is the explicit
/// [`TokenSet::to_json`]. [`TokenSet::info`] is the part that is safe to show.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TokenSet {
    pub access_token: Secret,
    pub refresh_token: Secret,
    /// When the access token expires: the JWT `exp` claim, else `expires_in`.
    pub expires_at: DateTime<Utc>,
    /// When the refresh token expires, if it says (a JWT `exp`).
    #[serde(default)]
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_at", &self.expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish()
    }
}

/// The `exp` claim of a JWT, read without verifying the signature (the client only needs to
/// know when to refresh; ANAF verifies the token).
pub(crate) fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

/// The on-disk and JSON form of a token set (the same field names as the struct).
#[derive(Serialize)]
struct ExposedTokens<'a> {
    access_token: &'a str,
    refresh_token: &'a str,
    expires_at: DateTime<Utc>,
    refresh_expires_at: Option<DateTime<Utc>>,
}

impl TokenSet {
    /// A token set from its parts (e.g. tokens your program saved in its own format).
    pub fn new(
        access_token: impl Into<Secret>,
        refresh_token: impl Into<Secret>,
        expires_at: DateTime<Utc>,
        refresh_expires_at: Option<DateTime<Utc>>,
    ) -> TokenSet {
        TokenSet {
            access_token: access_token.into(),
            refresh_token: refresh_token.into(),
            expires_at,
            refresh_expires_at,
        }
    }

    /// Builds a token set from a token response: expiry from the JWT `exp` claim, falling back
    /// to `expires_in`, then to ANAF's documented 90 days. Absurd values never panic: an
    /// `expires_in` beyond the calendar falls back like a missing one.
    pub fn from_response(
        access_token: Secret,
        refresh_token: Secret,
        expires_in: Option<Duration>,
        now: DateTime<Utc>,
    ) -> TokenSet {
        let after = |d: Duration| {
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
        };
        let expires_at = jwt_expiry(access_token.expose())
            .or_else(|| expires_in.and_then(after))
            .or_else(|| after(DOCUMENTED_ACCESS_LIFETIME))
            .unwrap_or(now);
        let refresh_expires_at = jwt_expiry(refresh_token.expose());
        TokenSet {
            access_token,
            refresh_token,
            expires_at,
            refresh_expires_at,
        }
    }

    /// Whether the access token is still good for at least `margin`.
    pub fn is_fresh(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::MAX);
        self.expires_at
            .checked_sub_signed(margin)
            .is_some_and(|deadline| deadline > now)
    }

    /// The tokens as JSON **including the secrets** (`access_token`, `refresh_token`,
    /// `expires_at`, `refresh_expires_at`; times in RFC 3339, UTC): what a program writes into
    /// its own storage. The file store uses the same form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.exposed()).unwrap_or_default()
    }

    pub(crate) fn to_json_pretty(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.exposed()).unwrap_or_default()
    }

    fn exposed(&self) -> ExposedTokens<'_> {
        ExposedTokens {
            access_token: self.access_token.expose(),
            refresh_token: self.refresh_token.expose(),
            expires_at: self.expires_at,
            refresh_expires_at: self.refresh_expires_at,
        }
    }

    /// Reads what [`TokenSet::to_json`] wrote.
    pub fn from_json(json: &str) -> Result<TokenSet, Error> {
        serde_json::from_str(json)
            .map_err(|e| Error::invalid_input("tokens", "not the JSON of a token set").with_source(e))
    }

    /// What can be shown or logged about these tokens: their expiry, not their values.
    pub fn info(&self) -> TokenInfo {
        TokenInfo {
            expires_at: self.expires_at,
            refresh_expires_at: self.refresh_expires_at,
        }
    }
}

/// The public part of a [`TokenSet`]. Serialised with RFC 3339 UTC times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TokenInfo {
    pub expires_at: DateTime<Utc>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

/// Where the login stands, read in one step (see `OAuth::token_status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TokenStatus {
    /// Tokens are present (they may be expired).
    pub logged_in: bool,
    /// Expiry of the tokens present.
    pub tokens: Option<TokenInfo>,
    /// The current tokens could not be saved to the store yet (they are kept in memory and
    /// the save is retried on the next call). Exiting now would lose them.
    pub unsaved: bool,
    /// The refresh token was refused or its answer was lost: automatic refresh has stopped
    /// and the user must log in again.
    pub login_required: bool,
    /// Bumped on every change of the tokens.
    pub generation: u64,
}

/// Why new tokens were installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenChange {
    /// A login: a code exchange (`exchange_code`, `complete_authorization`,
    /// `login_interactive`).
    Login,
    /// A refresh: ANAF rotated both tokens and the previous refresh token stopped working.
    Refresh,
    /// `set_tokens`.
    Set,
    /// Another process (sharing the store) had already refreshed; its pair was adopted.
    Adopted,
}

impl TokenChange {
    /// `login`, `refresh`, `set` or `adopted`.
    pub fn code(self) -> &'static str {
        match self {
            TokenChange::Login => "login",
            TokenChange::Refresh => "refresh",
            TokenChange::Set => "set",
            TokenChange::Adopted => "adopted",
        }
    }
}

impl std::str::FromStr for TokenChange {
    type Err = Error;

    fn from_str(code: &str) -> Result<TokenChange, Error> {
        [
            TokenChange::Login,
            TokenChange::Refresh,
            TokenChange::Set,
            TokenChange::Adopted,
        ]
        .into_iter()
        .find(|c| c.code() == code)
        .ok_or_else(|| crate::error::unknown_code("token change", code))
    }
}

/// What happened to the tokens, told to the hooks registered with
/// `ClientBuilder::on_token_event`. Hooks run on a thread of the runtime's blocking pool,
/// after the change and in its order (never on an async worker, never with a client lock
/// held, never holding up a call).
#[derive(Debug)]
#[non_exhaustive]
pub enum TokenEvent {
    /// New tokens are in use. When `saved` is false the store refused them: keep them from
    /// here if you can (the client retries the save on its next call and sends
    /// [`TokenEvent::Saved`] when it goes through).
    Changed {
        tokens: TokenSet,
        change: TokenChange,
        saved: bool,
    },
    /// Saving the current tokens failed (once per failure, not once per retry).
    SaveFailed { error: Error },
    /// Tokens that could not be saved earlier are saved now.
    Saved,
    /// The refresh token no longer works (refused, or spent by a refresh whose answer was
    /// lost). Automatic refresh has stopped; the user must log in again. Sent once.
    LoginRequired { error: Error },
    /// The tokens were cleared (`clear_tokens`, `revoke`).
    Cleared,
}

impl TokenEvent {
    /// `changed`, `save_failed`, `saved`, `login_required` or `cleared`.
    pub fn code(&self) -> &'static str {
        match self {
            TokenEvent::Changed { .. } => "changed",
            TokenEvent::SaveFailed { .. } => "save_failed",
            TokenEvent::Saved => "saved",
            TokenEvent::LoginRequired { .. } => "login_required",
            TokenEvent::Cleared => "cleared",
        }
    }
}

/// `{"event": "changed", "change": "refresh", "saved": true, "tokens": {"expires_at": ...}}`;
/// `error` (as in [`Error::to_json`]) for `save_failed` and `login_required`. Never the
/// token values.
impl Serialize for TokenEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("TokenEvent", 4)?;
        s.serialize_field("event", self.code())?;
        match self {
            TokenEvent::Changed { tokens, change, saved } => {
                s.serialize_field("change", change)?;
                s.serialize_field("saved", saved)?;
                s.serialize_field("tokens", &tokens.info())?;
            }
            TokenEvent::SaveFailed { error } | TokenEvent::LoginRequired { error } => {
                s.serialize_field("error", error)?;
            }
            TokenEvent::Saved | TokenEvent::Cleared => {}
        }
        s.end()
    }
}

/// Called with every [`TokenEvent`].
pub type TokenHook = std::sync::Arc<dyn Fn(&TokenEvent) + Send + Sync>;

/// Held while a refresh is in progress; dropping it releases the lock.
pub trait StoreLock: Send {}

pub(crate) struct NoLock;
impl StoreLock for NoLock {}

/// Where tokens are kept between runs, with blocking calls. Implement it to keep tokens in a
/// database or a keyring; [`CallbackTokenStore`] does the same with closures.
///
/// The client calls these methods on a thread of the runtime's blocking pool, never on an
/// async worker and never while it holds its own cache lock, so they may block (on a
/// database, a lock file, a host language's lock).
pub trait TokenStore: Send + Sync + 'static {
    fn load(&self) -> Result<Option<TokenSet>, Error>;
    /// Must be durable when it returns: the previous refresh token no longer works.
    fn save(&self, tokens: &TokenSet) -> Result<(), Error>;
    fn clear(&self) -> Result<(), Error>;
    /// An exclusive lock held around every change of the tokens, so two processes sharing
    /// this store never spend the same refresh token. The default is no lock (one process).
    fn lock(&self) -> Result<Box<dyn StoreLock>, Error> {
        Ok(Box::new(NoLock))
    }
    /// A name under which clients of this process share one token manager (one refresh at a
    /// time, one cache) even when each was given its own store value: the file store returns
    /// its absolute path. `None` (the default) shares only clients given the same `Arc`.
    fn sharing_key(&self) -> Option<String> {
        None
    }
}

/// Where tokens are kept, with async calls: what Python's asyncio and Node's Promise-returning
/// callbacks implement. The futures run on the client's runtime, so they must not block it
/// (use [`TokenStore`] for blocking storage).
pub trait AsyncTokenStore: Send + Sync + 'static {
    fn load(&self) -> BoxFuture<'_, Result<Option<TokenSet>, Error>>;
    /// Must be durable when the future completes.
    fn save<'a>(&'a self, tokens: &'a TokenSet) -> BoxFuture<'a, Result<(), Error>>;
    fn clear(&self) -> BoxFuture<'_, Result<(), Error>>;
    /// Takes an exclusive lock held around every change of the tokens (see
    /// [`TokenStore::lock`]); [`AsyncTokenStore::unlock`] is called exactly once after each
    /// successful `lock`. The default is no lock.
    fn lock(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
    fn unlock(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// See [`TokenStore::sharing_key`].
    fn sharing_key(&self) -> Option<String> {
        None
    }
}

pub(crate) fn not_logged_in() -> Error {
    Error::new(ErrorKind::Unauthorized, "there are no tokens yet").with_hint(
        "log in first (authorization_url + complete_authorization, or login_interactive), or set_tokens with saved ones",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt_with_exp(exp: i64) -> String {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS512"}"#),
            enc(&format!(r#"{{"exp":{exp}}}"#))
        )
    }

    #[test]
    fn expiry_comes_from_the_jwt_then_expires_in_then_90_days() {
        let now = Utc::now();
        let jwt = TokenSet::from_response(
            jwt_with_exp(2_000_000_000).into(),
            "r".into(),
            Some(Duration::from_secs(5)),
            now,
        );
        assert_eq!(jwt.expires_at.timestamp(), 2_000_000_000);
        let opaque = TokenSet::from_response("opaque".into(), "r".into(), Some(Duration::from_secs(60)), now);
        assert_eq!(opaque.expires_at, now + chrono::Duration::seconds(60));
        let bare = TokenSet::from_response("opaque".into(), "r".into(), None, now);
        assert_eq!(bare.expires_at, now + chrono::Duration::days(90));
        assert!(!format!("{bare:?}").contains("opaque"));
    }

    #[test]
    fn absurd_expires_in_falls_back_instead_of_panicking() {
        let now = Utc::now();
        for seconds in [u64::MAX, i64::MAX as u64, 10u64.pow(15)] {
            let t = TokenSet::from_response("a".into(), "r".into(), Some(Duration::from_secs(seconds)), now);
            assert_eq!(t.expires_at, now + chrono::Duration::days(90), "{seconds}");
        }
        let t = TokenSet::new("a", "r", DateTime::<Utc>::MAX_UTC, None);
        assert!(t.is_fresh(now, Duration::from_secs(300)));
        assert!(
            !t.is_fresh(now, Duration::MAX),
            "a margin beyond the calendar is never fresh"
        );
    }

    #[test]
    fn serialising_tokens_is_explicit_and_round_trips() {
        let t = TokenSet::new("access-secret", "refresh-secret", Utc::now(), None);
        let json = t.to_json();
        assert!(json.contains("access-secret") && json.contains("refresh-secret"));
        assert_eq!(TokenSet::from_json(&json).unwrap(), t);
        let info = serde_json::to_string(&t.info()).unwrap();
        assert!(!info.contains("secret"), "{info}");
        let event = serde_json::to_string(&TokenEvent::Changed {
            tokens: t,
            change: TokenChange::Refresh,
            saved: true,
        })
        .unwrap();
        assert!(event.starts_with(r#"{"event":"changed","change":"refresh","saved":true,"tokens":{"expires_at":"#));
        assert!(!event.contains("secret"), "{event}");
        assert_eq!("adopted".parse::<TokenChange>().unwrap(), TokenChange::Adopted);
    }
}
