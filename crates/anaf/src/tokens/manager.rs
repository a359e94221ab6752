//! The token manager: one per token store in a process, shared by every client built on that
//! store. It keeps the cache, serialises every change of the tokens (login, refresh, set,
//! clear, revoke) behind one lock, refreshes at most once at a time, retries a save that
//! failed, notices when the refresh token is spent, and tells the hooks.
//!
//! Lock order: `writes` (async, held across a whole change) → the store's own lock → `cache`
//! (sync, never held across an `.await`). `events` is taken before `writes` is released, so
//! hooks see changes in the order they happened, and the hooks run with no lock of the
//! manager held (they may read the client's state).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use chrono::Utc;
use futures_util::future::BoxFuture;
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

use super::{
    AsyncTokenStore, StoreLock, TokenChange, TokenEvent, TokenHook, TokenSet, TokenStatus, TokenStore, not_logged_in,
};
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

/// After a refresh fails for a passing reason (ANAF unreachable, 5xx), automatic refreshes
/// wait this long while the current access token still works, instead of adding a failing
/// round trip (and a warning) to every call.
const REFRESH_PAUSE: Duration = Duration::from_secs(30);
/// How often a failed save is retried (on the next call after this much time).
const SAVE_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The hooks of one client (shared by its clones). The manager holds them weakly, so a
/// dropped client stops hearing about tokens it no longer uses.
pub(crate) struct Hooks(pub Vec<TokenHook>);

/// A blocking [`TokenStore`] seen as an [`AsyncTokenStore`]: each call runs on the runtime's
/// blocking pool, so a store that waits (a lock file, a database, a host language's lock or
/// interpreter) never stalls the async workers.
struct BlockingStore {
    store: Arc<dyn TokenStore>,
    held: Mutex<Option<Box<dyn StoreLock>>>,
}

async fn off_the_workers<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    // A panicking store comes back as an error, not as a panic in the caller.
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("a token store call failed: {e}"))))
}

impl AsyncTokenStore for BlockingStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<TokenSet>, Error>> {
        let store = self.store.clone();
        Box::pin(off_the_workers(move || store.load()))
    }

    fn save<'a>(&'a self, tokens: &'a TokenSet) -> BoxFuture<'a, Result<(), Error>> {
        let (store, tokens) = (self.store.clone(), tokens.clone());
        Box::pin(off_the_workers(move || store.save(&tokens)))
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), Error>> {
        let store = self.store.clone();
        Box::pin(off_the_workers(move || store.clear()))
    }

    fn lock(&self) -> BoxFuture<'_, Result<(), Error>> {
        let store = self.store.clone();
        Box::pin(async move {
            let guard = off_the_workers(move || store.lock()).await?;
            *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
            Ok(())
        })
    }

    fn unlock(&self) -> BoxFuture<'_, ()> {
        let guard = self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
        Box::pin(async move {
            if let Some(guard) = guard {
                // Releasing may call a host's callback: off the workers as well.
                let _ = off_the_workers(move || {
                    drop(guard);
                    Ok(())
                })
                .await;
            }
        })
    }
}

/// How a client hands its store over.
pub(crate) enum StoreRef {
    Blocking(Arc<dyn TokenStore>),
    Async(Arc<dyn AsyncTokenStore>),
}

#[derive(PartialEq, Eq)]
enum Key {
    Pointer(usize),
    Named(String),
}

/// Managers by store, so clients built on the same store share one.
static MANAGERS: Mutex<Vec<(Key, Weak<TokenManager>)>> = Mutex::new(Vec::new());

/// The manager of `store`: the existing one when another live client uses the same store
/// (the same `Arc`, or a store with the same [`TokenStore::sharing_key`]), else a new one.
pub(crate) fn manager_for(store: StoreRef) -> Arc<TokenManager> {
    let (key, adapted): (Key, Arc<dyn AsyncTokenStore>) = match store {
        StoreRef::Blocking(store) => {
            let key = match store.sharing_key() {
                Some(name) => Key::Named(name),
                None => Key::Pointer(Arc::as_ptr(&store) as *const () as usize),
            };
            let adapted = Arc::new(BlockingStore {
                store,
                held: Mutex::new(None),
            });
            (key, adapted)
        }
        StoreRef::Async(store) => (Key::Pointer(Arc::as_ptr(&store) as *const () as usize), store),
    };
    let mut managers = MANAGERS.lock().unwrap_or_else(|p| p.into_inner());
    managers.retain(|(_, manager)| manager.strong_count() > 0);
    if let Some(manager) = managers.iter().find(|(k, _)| *k == key).and_then(|(_, m)| m.upgrade()) {
        return manager;
    }
    let manager = Arc::new(TokenManager::new(adapted));
    managers.push((key, Arc::downgrade(&manager)));
    manager
}

/// The tokens the store does not hold yet.
#[derive(Clone)]
struct Unsaved {
    /// The refresh token the store held when these tokens replaced it: if the store still
    /// holds it (or nothing), ours are newer and are saved; anything else there came from
    /// another program and wins.
    replacing: Option<Secret>,
    retry_at: Instant,
}

#[derive(Default)]
struct Cache {
    loaded: bool,
    tokens: Option<TokenSet>,
    /// Bumped on every change, so a task that waited for a refresh can tell it happened.
    generation: u64,
    unsaved: Option<Unsaved>,
    /// Why automatic refresh has stopped (the refresh token is spent or refused).
    login_required: Option<Error>,
    refresh_paused_until: Option<Instant>,
}

/// What a call may use, read in one step.
pub(crate) enum Access {
    NoTokens,
    Fresh {
        token: Secret,
        generation: u64,
        save_due: bool,
    },
    Stale {
        current: TokenSet,
        generation: u64,
        login_required: Option<Error>,
        refresh_paused: bool,
    },
}

/// A finished refresh.
pub(crate) struct Renewal {
    pub tokens: TokenSet,
    pub generation: u64,
    /// The new tokens are in use but the store refused them (reported to the hooks too).
    pub save_error: Option<Error>,
}

/// Who asked for a refresh.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Before a call, because the token is about to expire.
    Expiry,
    /// After ANAF refused the token (401).
    Refused,
    /// `OAuth::refresh`.
    Explicit,
}

pub(crate) struct TokenManager {
    store: Arc<dyn AsyncTokenStore>,
    cache: Mutex<Cache>,
    loading: tokio::sync::Mutex<()>,
    writes: Arc<tokio::sync::Mutex<()>>,
    events: Arc<tokio::sync::Mutex<()>>,
    subscribers: Mutex<Vec<Weak<Hooks>>>,
}

impl TokenManager {
    fn new(store: Arc<dyn AsyncTokenStore>) -> TokenManager {
        TokenManager {
            store,
            cache: Mutex::new(Cache::default()),
            loading: tokio::sync::Mutex::new(()),
            writes: Arc::default(),
            events: Arc::default(),
            subscribers: Mutex::new(Vec::new()),
        }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self, hooks: &Arc<Hooks>) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.retain(|h| h.strong_count() > 0);
        subscribers.push(Arc::downgrade(hooks));
    }

    async fn ensure_loaded(&self) -> Result<(), Error> {
        if self.cache().loaded {
            return Ok(());
        }
        let _loading = self.loading.lock().await;
        if self.cache().loaded {
            return Ok(());
        }
        let loaded = self.store.load().await?;
        let mut cache = self.cache();
        if !cache.loaded {
            cache.tokens = loaded;
            cache.loaded = true;
        }
        Ok(())
    }

    /// The hot path of every call: whether the access token is good for at least `margin`,
    /// with the generation it belongs to, in one look at the cache.
    pub async fn access(&self, margin: Duration) -> Result<Access, Error> {
        self.ensure_loaded().await?;
        let cache = self.cache();
        let Some(tokens) = &cache.tokens else {
            return Ok(Access::NoTokens);
        };
        let now = Instant::now();
        if tokens.is_fresh(Utc::now(), margin) {
            return Ok(Access::Fresh {
                token: tokens.access_token.clone(),
                generation: cache.generation,
                save_due: cache.unsaved.as_ref().is_some_and(|u| u.retry_at <= now),
            });
        }
        Ok(Access::Stale {
            current: tokens.clone(),
            generation: cache.generation,
            login_required: cache.login_required.clone(),
            refresh_paused: cache.refresh_paused_until.is_some_and(|until| until > now),
        })
    }

    pub async fn tokens(&self) -> Result<Option<TokenSet>, Error> {
        self.ensure_loaded().await?;
        Ok(self.cache().tokens.clone())
    }

    pub async fn status(&self) -> Result<TokenStatus, Error> {
        self.ensure_loaded().await?;
        let cache = self.cache();
        Ok(TokenStatus {
            logged_in: cache.tokens.is_some(),
            tokens: cache.tokens.as_ref().map(TokenSet::info),
            unsaved: cache.unsaved.is_some(),
            login_required: cache.login_required.is_some(),
            generation: cache.generation,
        })
    }

    /// Installs new tokens and returns the events to report (the store lock must be held).
    fn adopt(
        &self,
        tokens: TokenSet,
        change: TokenChange,
        saved: Result<(), Error>,
        replacing: Option<Secret>,
    ) -> Vec<TokenEvent> {
        let mut cache = self.cache();
        cache.tokens = Some(tokens.clone());
        cache.loaded = true;
        cache.generation += 1;
        cache.login_required = None;
        cache.refresh_paused_until = None;
        let mut events = vec![TokenEvent::Changed {
            tokens,
            change,
            saved: saved.is_ok(),
        }];
        match saved {
            Ok(()) => cache.unsaved = None,
            Err(error) => {
                tracing::warn!(kind = %error.kind(), "the new tokens could not be saved; they are kept in memory and the save will be retried");
                cache.unsaved = Some(Unsaved {
                    replacing,
                    retry_at: Instant::now() + SAVE_RETRY_INTERVAL,
                });
                events.push(TokenEvent::SaveFailed { error });
            }
        }
        events
    }

    /// Runs `change` under the manager's write lock and the store's lock, in a task of its
    /// own: a caller that stops waiting cannot leave the store locked or lose tokens ANAF has
    /// already rotated. The events it returns go to the hooks after the locks are released.
    async fn change<T, F, Fut>(self: &Arc<Self>, store_lock: bool, change: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Arc<TokenManager>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = (Result<T, Error>, Vec<TokenEvent>)> + Send + 'static,
    {
        let manager = self.clone();
        tokio::spawn(async move {
            let writes = manager.writes.clone().lock_owned().await;
            manager.ensure_loaded().await?;
            if store_lock {
                manager.store.lock().await?;
            }
            let (result, events) = change(manager.clone()).await;
            if store_lock {
                manager.store.unlock().await;
            }
            manager.deliver(writes, events).await;
            result
        })
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("a token update failed: {e}"))))
    }

    /// Hands `events` to the hooks: in order (the event lock is taken before the write lock
    /// is released) and on the blocking pool (hooks may block, e.g. on a host language's
    /// lock).
    async fn deliver(&self, writes: OwnedMutexGuard<()>, events: Vec<TokenEvent>) {
        if events.is_empty() {
            return;
        }
        let turn = self.events.clone().lock_owned().await;
        drop(writes);
        let hooks: Vec<Arc<Hooks>> = self
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        if hooks.iter().all(|h| h.0.is_empty()) {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || {
            for event in &events {
                for hook in hooks.iter().flat_map(|h| h.0.iter()) {
                    // One failing hook must not keep the others from hearing.
                    if std::panic::catch_unwind(AssertUnwindSafe(|| hook(event))).is_err() {
                        tracing::error!(event = event.code(), "a token hook panicked");
                    }
                }
            }
        })
        .await;
        drop(turn);
    }

    /// Installs tokens from a login or from the caller, under the same locks as a refresh.
    pub async fn install(self: &Arc<Self>, tokens: TokenSet, change: TokenChange) -> Result<(), Error> {
        self.change(true, move |manager| async move {
            let saved = manager.store.save(&tokens).await;
            let error = saved.as_ref().err().cloned();
            let events = manager.adopt(tokens, change, saved, None);
            let result = match error {
                None => Ok(()),
                Some(e) => Err(e.with_hint(
                    "the tokens are in use and kept in memory; saving them is retried on the next call \
                     (TokenEvent::Saved tells when it worked)",
                )),
            };
            (result, events)
        })
        .await
    }

    /// Forgets the tokens, in the store too, under the same locks as a refresh.
    pub async fn clear(self: &Arc<Self>) -> Result<(), Error> {
        self.change(true, |manager| async move { manager.clear_locked().await })
            .await
    }

    async fn clear_locked(&self) -> (Result<(), Error>, Vec<TokenEvent>) {
        if let Err(e) = self.store.clear().await {
            return (Err(e), Vec::new());
        }
        let mut cache = self.cache();
        cache.tokens = None;
        cache.generation += 1;
        cache.unsaved = None;
        cache.login_required = None;
        cache.refresh_paused_until = None;
        (Ok(()), vec![TokenEvent::Cleared])
    }

    /// Runs `revoke` with the current tokens and then clears them, all under the write lock,
    /// so no refresh can slip in between and save tokens after the logout.
    pub async fn revoke_and_clear<R, F, Fut>(self: &Arc<Self>, revoke: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(Option<TokenSet>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<R, Error>> + Send + 'static,
    {
        self.change(true, move |manager| async move {
            let current = manager.cache().tokens.clone();
            let outcome = revoke(current).await;
            let (cleared, events) = manager.clear_locked().await;
            let result = match (outcome, cleared) {
                (Ok(r), Ok(())) => Ok(r),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            (result, events)
        })
        .await
    }

    /// Saves tokens that could not be saved earlier. Called before API calls once the retry
    /// interval has passed; errors are reported to the hooks once, not on every retry.
    pub async fn flush(self: &Arc<Self>) -> Result<(), Error> {
        self.change(true, |manager| async move {
            let (ours, unsaved) = {
                let cache = manager.cache();
                match (&cache.tokens, &cache.unsaved) {
                    (Some(tokens), Some(unsaved)) => (tokens.clone(), unsaved.clone()),
                    _ => return (Ok(()), Vec::new()),
                }
            };
            let stored = match manager.store.load().await {
                Ok(stored) => stored,
                Err(e) => return (Err(manager.retry_later(e)), Vec::new()),
            };
            let ours_are_newest = match (&stored, &unsaved.replacing) {
                (None, _) | (_, None) => true,
                (Some(stored), Some(replaced)) => stored.refresh_token == *replaced || *stored == ours,
            };
            if !ours_are_newest && let Some(stored) = stored {
                // Another program logged in (or refreshed with a pair we never saw) and saved.
                let events = manager.adopt(stored, TokenChange::Adopted, Ok(()), None);
                return (Ok(()), events);
            }
            match manager.store.save(&ours).await {
                Ok(()) => {
                    manager.cache().unsaved = None;
                    tracing::info!("tokens that could not be saved earlier are saved now");
                    (Ok(()), vec![TokenEvent::Saved])
                }
                Err(e) => (Err(manager.retry_later(e)), Vec::new()),
            }
        })
        .await
    }

    fn retry_later(&self, error: Error) -> Error {
        if let Some(unsaved) = self.cache().unsaved.as_mut() {
            unsaved.retry_at = Instant::now() + SAVE_RETRY_INTERVAL;
        }
        error
    }

    /// Refreshes unless someone else renewed the tokens first: another task in this process
    /// (the generation moved) or another process (the store holds other tokens than the ones
    /// being replaced). `refresh` may be called twice: when the first answer is lost, the same
    /// refresh token is tried once more, which either works (ANAF never saw the first) or is
    /// refused (ANAF rotated: the token is spent and the user must log in again).
    pub async fn renew<F, Fut>(
        self: &Arc<Self>,
        seen_generation: u64,
        replacing: Option<Secret>,
        trigger: Trigger,
        margin: Duration,
        refresh: F,
    ) -> Result<Renewal, Error>
    where
        F: Fn(Secret) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<TokenSet, Error>> + Send + 'static,
    {
        let manager = self.clone();
        tokio::spawn(async move {
            let writes = manager.writes.clone().lock_owned().await;
            manager.ensure_loaded().await?;
            let (current, generation, login_required) = {
                let cache = manager.cache();
                (cache.tokens.clone(), cache.generation, cache.login_required.clone())
            };
            if generation != seen_generation
                && let Some(current) = current.clone()
            {
                return Ok(Renewal {
                    tokens: current,
                    generation,
                    save_error: None,
                });
            }
            if let Some(error) = login_required.filter(|_| trigger != Trigger::Explicit) {
                return Err(error);
            }
            manager.store.lock().await?;
            let (result, events) = manager.renew_locked(current, replacing, trigger, margin, refresh).await;
            manager.store.unlock().await;
            manager.deliver(writes, events).await;
            result
        })
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("the token refresh task failed: {e}"))))
    }

    async fn renew_locked<F, Fut>(
        &self,
        current: Option<TokenSet>,
        replacing: Option<Secret>,
        trigger: Trigger,
        margin: Duration,
        refresh: F,
    ) -> (Result<Renewal, Error>, Vec<TokenEvent>)
    where
        F: Fn(Secret) -> Fut,
        Fut: std::future::Future<Output = Result<TokenSet, Error>>,
    {
        let stored = match self.store.load().await {
            Ok(stored) => stored,
            Err(e) => return (Err(e), Vec::new()),
        };
        let replacing = replacing.or(current.as_ref().map(|t| t.access_token.clone()));
        let renewed_elsewhere = stored
            .clone()
            .filter(|s| Some(&s.access_token) != replacing.as_ref() && s.is_fresh(Utc::now(), margin));
        if let Some(stored) = renewed_elsewhere {
            // Another process renewed them while this one waited for the lock.
            let events = self.adopt(stored.clone(), TokenChange::Adopted, Ok(()), None);
            let generation = self.cache().generation;
            let renewal = Renewal {
                tokens: stored,
                generation,
                save_error: None,
            };
            return (Ok(renewal), events);
        }
        let Some(base) = stored.or(current) else {
            return (Err(not_logged_in()), Vec::new());
        };
        let spent = base.refresh_token.clone();
        let mut outcome = refresh(spent.clone()).await;
        if let Err(e) = &outcome
            && e.delivery_unknown()
        {
            tracing::debug!("the refresh answer was lost; asking once more with the same refresh token");
            outcome = refresh(spent.clone())
                .await
                .map_err(|second| match second.oauth_error() {
                    Some("invalid_grant") => second,
                    _ => second.with_delivery_unknown(),
                });
        }
        match outcome {
            Ok(renewed) => {
                let saved = self.store.save(&renewed).await;
                let save_error = saved.as_ref().err().cloned();
                let events = self.adopt(renewed.clone(), TokenChange::Refresh, saved, Some(spent));
                let generation = self.cache().generation;
                let renewal = Renewal {
                    tokens: renewed,
                    generation,
                    save_error,
                };
                (Ok(renewal), events)
            }
            Err(e) if e.oauth_error() == Some("invalid_grant") || e.delivery_unknown() => {
                let error = login_required(e);
                let mut cache = self.cache();
                let first = cache.login_required.is_none();
                cache.login_required = Some(error.clone());
                drop(cache);
                let events = if first {
                    tracing::warn!(
                        "the refresh token no longer works; automatic refresh stops until the user logs in again"
                    );
                    vec![TokenEvent::LoginRequired { error: error.clone() }]
                } else {
                    Vec::new()
                };
                (Err(error), events)
            }
            Err(e) => {
                if trigger == Trigger::Expiry {
                    let mut cache = self.cache();
                    if cache.refresh_paused_until.is_none() {
                        tracing::warn!(kind = %e.kind(), "token refresh failed; the current token is used while it lasts, and refresh is retried in {} s", REFRESH_PAUSE.as_secs());
                    }
                    cache.refresh_paused_until = Some(Instant::now() + REFRESH_PAUSE);
                }
                (Err(e), Vec::new())
            }
        }
    }
}

/// The error that ends automatic refresh: it says to log in again, and why.
fn login_required(cause: Error) -> Error {
    let lost = cause.delivery_unknown();
    let message = if lost {
        "the refresh answer was lost twice: ANAF has probably rotated the tokens, so the refresh token is spent"
    } else {
        "the identity provider refused the refresh token (spent, revoked, or expired)"
    };
    let mut error = Error::new(ErrorKind::Unauthorized, message).with_hint(
        "log in again (authorization_url + complete_authorization, or login_interactive); \
         automatic refresh has stopped until then",
    );
    if let Some(status) = cause.http_status() {
        error = error.with_status(status);
    }
    if let Some(code) = cause.oauth_error() {
        error = error.with_oauth_error(code);
    }
    if let Some(text) = cause.anaf_message() {
        error = error.with_anaf_message(text);
    }
    error.with_source(cause)
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager").finish_non_exhaustive()
    }
}
