//! The token manager: one per token store in a process, shared by every client built on that
//! store. It keeps the cache, serialises every change of the tokens (login, refresh, set,
//! clear, revoke) behind one lock, refreshes at most once at a time, retries a save that
//! failed, notices when the refresh token is spent, and tells the hooks.
//!
//! Lock order: `writes` (async, held across a whole change) → the store's own lock → `cache`
//! (sync, never held across an `.await`). Events are queued while `writes` is held (so they
//! keep the order of the changes) and delivered by a task of their own: a call never waits for
//! a hook, and no lock of the manager is held while one runs.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
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
/// How often a failed save is retried, and how often the store is looked at for a new login
/// while the refresh token is spent.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// The hooks of one client (shared by its clones). The manager holds them weakly, so a
/// dropped client stops hearing about tokens it no longer uses.
pub(crate) struct Hooks(pub Vec<TokenHook>);

/// A store's calls, made so that a host's code never runs on an async worker: a blocking
/// [`TokenStore`] runs on the runtime's blocking pool; an [`AsyncTokenStore`] is awaited.
enum Store {
    Blocking(Arc<dyn TokenStore>),
    Async(Arc<dyn AsyncTokenStore>),
}

async fn off_the_workers<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    // A panicking store comes back as an error, not as a panic in the caller.
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("a token store call failed: {e}"))))
}

impl Store {
    async fn load(&self) -> Result<Option<TokenSet>, Error> {
        match self {
            Store::Blocking(store) => {
                let store = store.clone();
                off_the_workers(move || store.load()).await
            }
            Store::Async(store) => store.load().await,
        }
    }

    async fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        match self {
            Store::Blocking(store) => {
                let (store, tokens) = (store.clone(), tokens.clone());
                off_the_workers(move || store.save(&tokens)).await
            }
            Store::Async(store) => store.save(tokens).await,
        }
    }

    async fn clear(&self) -> Result<(), Error> {
        match self {
            Store::Blocking(store) => {
                let store = store.clone();
                off_the_workers(move || store.clear()).await
            }
            Store::Async(store) => store.clear().await,
        }
    }

    async fn lock(&self) -> Result<StoreGuard, Error> {
        match self {
            Store::Blocking(store) => {
                let store = store.clone();
                let guard = off_the_workers(move || store.lock()).await?;
                Ok(StoreGuard::Blocking(Some(guard)))
            }
            Store::Async(store) => {
                store.lock().await?;
                Ok(StoreGuard::Async(Some(store.clone())))
            }
        }
    }
}

/// The store's lock, released exactly once: by [`StoreGuard::release`], or, if the task
/// holding it is dropped or panics (a runtime shut down mid-change), when it is dropped.
enum StoreGuard {
    Blocking(Option<Box<dyn StoreLock>>),
    Async(Option<Arc<dyn AsyncTokenStore>>),
}

impl StoreGuard {
    async fn release(mut self) {
        match &mut self {
            // Releasing may call a host's callback: off the workers as well.
            StoreGuard::Blocking(guard) => {
                if let Some(guard) = guard.take() {
                    let _ = off_the_workers(move || {
                        drop(guard);
                        Ok(())
                    })
                    .await;
                }
            }
            StoreGuard::Async(store) => {
                if let Some(store) = store.take() {
                    store.unlock().await;
                }
            }
        }
    }
}

impl Drop for StoreGuard {
    fn drop(&mut self) {
        match self {
            StoreGuard::Blocking(guard) => drop(guard.take()),
            StoreGuard::Async(store) => {
                if let Some(store) = store.take()
                    && let Ok(runtime) = tokio::runtime::Handle::try_current()
                {
                    runtime.spawn(async move { store.unlock().await });
                }
            }
        }
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
    let key = |name: Option<String>, pointer: usize| match name {
        Some(name) => Key::Named(name),
        None => Key::Pointer(pointer),
    };
    let (key, store) = match store {
        StoreRef::Blocking(store) => (
            key(store.sharing_key(), Arc::as_ptr(&store) as *const () as usize),
            Store::Blocking(store),
        ),
        StoreRef::Async(store) => (
            key(store.sharing_key(), Arc::as_ptr(&store) as *const () as usize),
            Store::Async(store),
        ),
    };
    let mut managers = MANAGERS.lock().unwrap_or_else(|p| p.into_inner());
    managers.retain(|(_, manager)| manager.strong_count() > 0);
    if let Some(manager) = managers.iter().find(|(k, _)| *k == key).and_then(|(_, m)| m.upgrade()) {
        return manager;
    }
    let manager = Arc::new(TokenManager::new(store));
    managers.push((key, Arc::downgrade(&manager)));
    manager
}

/// The tokens the store does not hold yet.
#[derive(Clone)]
struct Unsaved {
    /// The refresh token the store held when these tokens replaced it (`None`: it held
    /// nothing we know of). While the store still holds it, ours are the newer ones; anything
    /// else there came from another program and wins.
    store_held: Option<Secret>,
    retry_at: Instant,
}

/// Automatic refresh has stopped: the refresh token was refused.
#[derive(Clone)]
struct LoginRequired {
    error: Error,
    /// The refused refresh token: a pair in the store with another one is a new login.
    spent: Secret,
    /// When to look at the store again for such a pair.
    recheck_at: Instant,
}

#[derive(Default)]
struct Cache {
    loaded: bool,
    tokens: Option<TokenSet>,
    /// Bumped on every change, so a task that waited for a refresh can tell it happened.
    generation: u64,
    unsaved: Option<Unsaved>,
    login_required: Option<LoginRequired>,
    refresh_paused_until: Option<Instant>,
}

impl Cache {
    /// Whether the unsaved pair in the cache is newer than `stored`.
    fn ours_are_newer(&self, stored: Option<&TokenSet>) -> bool {
        let Some(unsaved) = &self.unsaved else {
            return false;
        };
        match (stored, &unsaved.store_held) {
            (None, _) | (_, None) => true,
            (Some(stored), Some(held)) => stored.refresh_token == *held || Some(stored) == self.tokens.as_ref(),
        }
    }
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
        /// The store may hold a new login by now (only with `login_required`).
        recheck_due: bool,
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
    store: Store,
    cache: Mutex<Cache>,
    loading: tokio::sync::Mutex<()>,
    writes: Arc<tokio::sync::Mutex<()>>,
    subscribers: Mutex<Vec<Weak<Hooks>>>,
    /// The queue to the task that runs the hooks (started with the first event, and again if
    /// its runtime went away).
    events: Mutex<Option<mpsc::UnboundedSender<Delivery>>>,
}

/// Events and the hooks that were subscribed when they happened: a client dropped right after
/// a change (a host freeing its handle) still hears about it.
struct Delivery {
    events: Vec<TokenEvent>,
    hooks: Vec<Arc<Hooks>>,
}

/// Runs the hooks for each batch of events, in order, on the blocking pool.
async fn deliver_events(mut queue: mpsc::UnboundedReceiver<Delivery>) {
    while let Some(Delivery { events, hooks }) = queue.recv().await {
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
    }
}

impl TokenManager {
    fn new(store: Store) -> TokenManager {
        TokenManager {
            store,
            cache: Mutex::new(Cache::default()),
            loading: tokio::sync::Mutex::new(()),
            writes: Arc::default(),
            subscribers: Mutex::new(Vec::new()),
            events: Mutex::new(None),
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

    /// Queues events for the hooks. Called with the write lock held, so the queue keeps the
    /// order of the changes.
    fn publish(&self, events: Vec<TokenEvent>) {
        let hooks: Vec<Arc<Hooks>> = self
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|h| !h.0.is_empty())
            .collect();
        if events.is_empty() || hooks.is_empty() {
            return;
        }
        let mut queue = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let delivery = match queue.as_ref() {
            Some(sender) => match sender.send(Delivery { events, hooks }) {
                Ok(()) => return,
                // The delivery task went away with its runtime: start another.
                Err(mpsc::error::SendError(delivery)) => delivery,
            },
            None => Delivery { events, hooks },
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        runtime.spawn(deliver_events(receiver));
        let _ = sender.send(delivery);
        *queue = Some(sender);
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
        if let Some(access) = self.access_cached(margin) {
            return Ok(access);
        }
        self.ensure_loaded().await?;
        Ok(self.access_cached(margin).unwrap_or(Access::NoTokens))
    }

    /// `None` until the store was loaded. One lock, and no clock read beyond the expiry check
    /// unless something is pending: this runs before every call.
    fn access_cached(&self, margin: Duration) -> Option<Access> {
        let cache = self.cache();
        if !cache.loaded {
            return None;
        }
        let Some(tokens) = &cache.tokens else {
            return Some(Access::NoTokens);
        };
        if tokens.is_fresh(Utc::now(), margin) {
            return Some(Access::Fresh {
                token: tokens.access_token.clone(),
                generation: cache.generation,
                save_due: cache.unsaved.as_ref().is_some_and(|u| u.retry_at <= Instant::now()),
            });
        }
        Some(Access::Stale {
            current: tokens.clone(),
            generation: cache.generation,
            login_required: cache.login_required.as_ref().map(|l| l.error.clone()),
            recheck_due: cache
                .login_required
                .as_ref()
                .is_some_and(|l| l.recheck_at <= Instant::now()),
            refresh_paused: cache.refresh_paused_until.is_some_and(|until| until > Instant::now()),
        })
    }

    /// The tokens and their generation.
    pub async fn current(&self) -> Result<(Option<TokenSet>, u64), Error> {
        self.ensure_loaded().await?;
        let cache = self.cache();
        Ok((cache.tokens.clone(), cache.generation))
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

    /// Installs new tokens and returns the events to report. `store_held`: the refresh token
    /// the store held when these replaced it.
    fn adopt(
        &self,
        tokens: TokenSet,
        change: TokenChange,
        saved: Result<(), Error>,
        store_held: Option<Secret>,
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
                // A pair that was already unsaved keeps what the store held before it.
                let store_held = match &cache.unsaved {
                    Some(earlier) => earlier.store_held.clone(),
                    None => store_held,
                };
                cache.unsaved = Some(Unsaved {
                    store_held,
                    // The next call retries at once.
                    retry_at: Instant::now(),
                });
                events.push(TokenEvent::SaveFailed { error });
            }
        }
        events
    }

    /// Runs `change` under the manager's write lock and the store's lock, in a task of its
    /// own: a caller that stops waiting cannot leave the store locked or lose tokens ANAF has
    /// already rotated. The events it returns are queued for the hooks.
    async fn change<T, F, Fut>(self: &Arc<Self>, store_lock: bool, change: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Arc<TokenManager>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = (Result<T, Error>, Vec<TokenEvent>)> + Send + 'static,
    {
        let manager = self.clone();
        tokio::spawn(async move {
            let _writes = manager.writes.clone().lock_owned().await;
            manager.ensure_loaded().await?;
            let guard = match store_lock {
                true => Some(manager.store.lock().await?),
                false => None,
            };
            let (result, events) = change(manager.clone()).await;
            if let Some(guard) = guard {
                guard.release().await;
            }
            manager.publish(events);
            result
        })
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("a token update failed: {e}"))))
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

    /// Saves tokens that could not be saved earlier. Before calls, once the retry interval has
    /// passed (`force` false: many calls at once make one attempt); errors reach the hooks
    /// once, when the save first failed.
    pub async fn flush(self: &Arc<Self>, force: bool) -> Result<(), Error> {
        self.change(true, move |manager| async move {
            let ours = {
                let cache = manager.cache();
                match (&cache.tokens, &cache.unsaved) {
                    (Some(tokens), Some(unsaved)) if force || unsaved.retry_at <= Instant::now() => tokens.clone(),
                    _ => return (Ok(()), Vec::new()),
                }
            };
            let stored = match manager.store.load().await {
                Ok(stored) => stored,
                Err(e) => return (Err(manager.retry_later(e)), Vec::new()),
            };
            if !manager.cache().ours_are_newer(stored.as_ref())
                && let Some(stored) = stored
            {
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
            unsaved.retry_at = Instant::now() + RETRY_INTERVAL;
        }
        error
    }

    /// While the refresh token is spent: adopts a pair saved to the store since (a new login
    /// by another program sharing it). `true` when one was adopted.
    pub async fn recheck_store(self: &Arc<Self>) -> Result<bool, Error> {
        self.change(false, |manager| async move {
            let Some(spent) = manager.cache().login_required.as_ref().map(|l| l.spent.clone()) else {
                return (Ok(true), Vec::new());
            };
            match manager.store.load().await {
                Ok(Some(stored)) if stored.refresh_token != spent => {
                    let events = manager.adopt(stored, TokenChange::Adopted, Ok(()), None);
                    (Ok(true), events)
                }
                outcome => {
                    if let Some(login) = manager.cache().login_required.as_mut() {
                        login.recheck_at = Instant::now() + RETRY_INTERVAL;
                    }
                    (outcome.map(|_| false), Vec::new())
                }
            }
        })
        .await
    }

    /// Refreshes unless someone else renewed the tokens first: another task in this process
    /// (the generation moved) or another process (the store holds other tokens than the ones
    /// being replaced). `refresh` may be called twice: when the first answer is lost, the same
    /// refresh token is tried once more, which either works (ANAF never saw the first) or is
    /// refused (ANAF rotated: the token is spent and the user must log in again).
    pub async fn renew<F, Fut>(
        self: &Arc<Self>,
        seen_generation: u64,
        refused_access: Option<Secret>,
        trigger: Trigger,
        margin: Duration,
        refresh: F,
    ) -> Result<Renewal, Error>
    where
        F: Fn(Secret) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<TokenSet, Error>> + Send + 'static,
    {
        self.change(true, move |manager| async move {
            let (current, generation, login_required) = {
                let cache = manager.cache();
                (
                    cache.tokens.clone(),
                    cache.generation,
                    cache.login_required.as_ref().map(|l| l.error.clone()),
                )
            };
            if generation != seen_generation
                && let Some(current) = current
            {
                let renewal = Renewal {
                    tokens: current,
                    generation,
                    save_error: None,
                };
                return (Ok(renewal), Vec::new());
            }
            if let Some(error) = login_required.filter(|_| trigger != Trigger::Explicit) {
                return (Err(error), Vec::new());
            }
            manager
                .renew_locked(current, refused_access, trigger, margin, refresh)
                .await
        })
        .await
    }

    async fn renew_locked<F, Fut>(
        &self,
        current: Option<TokenSet>,
        refused_access: Option<Secret>,
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
        // An unsaved pair is newer than the store's (which holds a spent refresh token): it is
        // the one to refresh with, and the store's is not "renewed elsewhere".
        let ours_are_newer = self.cache().ours_are_newer(stored.as_ref());
        let replaced = refused_access.or(current.as_ref().map(|t| t.access_token.clone()));
        let renewed_elsewhere = stored.clone().filter(|s| {
            !ours_are_newer && Some(&s.access_token) != replaced.as_ref() && s.is_fresh(Utc::now(), margin)
        });
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
        let store_held = stored.as_ref().map(|s| s.refresh_token.clone());
        let base = if ours_are_newer { current } else { stored.or(current) };
        let Some(base) = base else {
            return (Err(not_logged_in()), Vec::new());
        };
        let mut outcome = refresh(base.refresh_token.clone()).await;
        let mut first_answer_lost = false;
        if let Err(e) = &outcome
            && e.delivery_unknown()
        {
            tracing::debug!("the refresh answer was lost; asking once more with the same refresh token");
            first_answer_lost = true;
            outcome = refresh(base.refresh_token.clone()).await;
        }
        match outcome {
            Ok(renewed) => {
                let saved = self.store.save(&renewed).await;
                let save_error = saved.as_ref().err().cloned();
                let events = self.adopt(renewed.clone(), TokenChange::Refresh, saved, store_held);
                let generation = self.cache().generation;
                let renewal = Renewal {
                    tokens: renewed,
                    generation,
                    save_error,
                };
                (Ok(renewal), events)
            }
            // Only a refusal proves the token spent; anything else may pass.
            Err(e) if e.oauth_error() == Some("invalid_grant") => {
                let error = login_required(e, first_answer_lost);
                let mut cache = self.cache();
                let first = cache.login_required.is_none();
                cache.login_required = Some(LoginRequired {
                    error: error.clone(),
                    spent: base.refresh_token,
                    recheck_at: Instant::now() + RETRY_INTERVAL,
                });
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
                if trigger != Trigger::Explicit {
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
fn login_required(cause: Error, first_answer_lost: bool) -> Error {
    let message = if first_answer_lost {
        "the refresh token is spent: ANAF rotated the tokens but its answer was lost, and the old refresh token \
         was refused"
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
