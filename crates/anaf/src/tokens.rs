//! Tokens and where they live. ANAF rotates the refresh token on every refresh (the old one
//! stops working), so a lost save strands the user: stores save atomically, and the file
//! store takes a cross-process lock around refresh so two programs never spend the same
//! refresh token.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

/// ANAF's documented access-token lifetime, used when a token carries no expiry at all.
const DOCUMENTED_ACCESS_LIFETIME: Duration = Duration::from_secs(90 * 86_400);

/// An access token and the refresh token that renews it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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

impl TokenSet {
    /// Builds a token set from a token response: expiry from the JWT `exp` claim, falling back
    /// to `expires_in`, then to ANAF's documented 90 days.
    pub fn from_response(
        access_token: Secret,
        refresh_token: Secret,
        expires_in: Option<Duration>,
        now: DateTime<Utc>,
    ) -> TokenSet {
        let expires_at = jwt_expiry(access_token.expose())
            .or_else(|| {
                expires_in
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .map(|d| now + d)
            })
            .unwrap_or_else(|| now + chrono::Duration::from_std(DOCUMENTED_ACCESS_LIFETIME).expect("fits"));
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
}

/// Held while a refresh is in progress; dropping it releases the lock.
pub trait StoreLock: Send {}

struct NoLock;
impl StoreLock for NoLock {}

/// Where tokens are kept between runs. Implement it to keep tokens in a database or a
/// keyring; the callbacks of [`CallbackTokenStore`] do the same from other languages.
pub trait TokenStore: Send + Sync + 'static {
    fn load(&self) -> Result<Option<TokenSet>, Error>;
    /// Must be durable when it returns: the previous refresh token no longer works.
    fn save(&self, tokens: &TokenSet) -> Result<(), Error>;
    fn clear(&self) -> Result<(), Error>;
    /// An exclusive lock held around a refresh, so two processes sharing this store never
    /// spend the same refresh token. The default is no lock (one process).
    fn lock(&self) -> Result<Box<dyn StoreLock>, Error> {
        Ok(Box::new(NoLock))
    }
}

/// Tokens in memory only (lost when the program exits).
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<Option<TokenSet>>,
}

impl MemoryTokenStore {
    pub fn new() -> MemoryTokenStore {
        MemoryTokenStore::default()
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> Result<Option<TokenSet>, Error> {
        Ok(self.tokens.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        *self.tokens.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokens.clone());
        Ok(())
    }

    fn clear(&self) -> Result<(), Error> {
        *self.tokens.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }
}

/// Tokens in a JSON file readable by its owner only (mode 0600), replaced atomically, with a
/// lock file (`<path>.lock`) that serialises refreshes across processes.
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    path: PathBuf,
}

impl FileTokenStore {
    pub fn new(path: impl Into<PathBuf>) -> FileTokenStore {
        FileTokenStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    fn io_error(&self, action: &str, e: std::io::Error) -> Error {
        Error::new(
            ErrorKind::Internal,
            format!("cannot {action} the token file {}", self.path.display()),
        )
        .with_source(e)
    }
}

fn owner_only(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

struct FileLock(#[allow(dead_code)] File);
impl StoreLock for FileLock {}

impl TokenStore for FileTokenStore {
    fn load(&self) -> Result<Option<TokenSet>, Error> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("the token file {} is not readable JSON", self.path.display()),
                )
                .with_source(e)
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error("read", e)),
        }
    }

    fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io_error("create the directory of", e))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tokens".into());
        let temp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), fastrand::u64(..)));
        let json =
            serde_json::to_vec_pretty(tokens).map_err(|e| Error::internal("cannot encode tokens").with_source(e))?;
        let write = || -> std::io::Result<()> {
            let mut file = owner_only(OpenOptions::new().write(true).create_new(true)).open(&temp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&temp, &self.path)?;
            // Make the rename itself durable.
            #[cfg(unix)]
            File::open(dir)?.sync_all()?;
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            self.io_error("write", e)
        })
    }

    fn clear(&self) -> Result<(), Error> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error("remove", e)),
        }
    }

    fn lock(&self) -> Result<Box<dyn StoreLock>, Error> {
        let path = self.lock_path();
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io_error("create the directory of", e))?;
        }
        let file = owner_only(OpenOptions::new().read(true).write(true).create(true).truncate(false))
            .open(&path)
            .map_err(|e| self.io_error("open the lock of", e))?;
        file.lock().map_err(|e| self.io_error("lock", e))?;
        Ok(Box::new(FileLock(file)))
    }
}

type LoadFn = dyn Fn() -> Result<Option<TokenSet>, String> + Send + Sync;
type SaveFn = dyn Fn(&TokenSet) -> Result<(), String> + Send + Sync;
type ClearFn = dyn Fn() -> Result<(), String> + Send + Sync;
type LockFn = dyn Fn() -> Result<(), String> + Send + Sync;
type UnlockFn = dyn Fn() + Send + Sync;

/// A store made of callbacks: how C, C#, Delphi, Python and Node programs keep tokens in their
/// own storage. A callback's error text becomes an [`ErrorKind::Internal`] error. Callbacks
/// run on the client's threads, never while the client holds the lock on its token cache.
pub struct CallbackTokenStore {
    load: Box<LoadFn>,
    save: Box<SaveFn>,
    clear: Option<Box<ClearFn>>,
    lock: Option<(Arc<LockFn>, Arc<UnlockFn>)>,
}

impl CallbackTokenStore {
    pub fn new(
        load: impl Fn() -> Result<Option<TokenSet>, String> + Send + Sync + 'static,
        save: impl Fn(&TokenSet) -> Result<(), String> + Send + Sync + 'static,
    ) -> CallbackTokenStore {
        CallbackTokenStore {
            load: Box::new(load),
            save: Box::new(save),
            clear: None,
            lock: None,
        }
    }

    /// Called by `revoke` and `clear_tokens` (without it, clearing forgets only the copy in
    /// memory).
    pub fn with_clear(mut self, clear: impl Fn() -> Result<(), String> + Send + Sync + 'static) -> Self {
        self.clear = Some(Box::new(clear));
        self
    }

    /// An exclusive lock across processes, taken around each refresh (see
    /// [`TokenStore::lock`]); `acquire` may block until the lock is free.
    pub fn with_lock(
        mut self,
        acquire: impl Fn() -> Result<(), String> + Send + Sync + 'static,
        release: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        self.lock = Some((Arc::new(acquire), Arc::new(release)));
        self
    }
}

struct CallbackLock(Arc<UnlockFn>);
impl StoreLock for CallbackLock {}
impl Drop for CallbackLock {
    fn drop(&mut self) {
        (self.0)();
    }
}

impl fmt::Debug for CallbackTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackTokenStore")
    }
}

impl TokenStore for CallbackTokenStore {
    fn load(&self) -> Result<Option<TokenSet>, Error> {
        (self.load)().map_err(|e| Error::internal(format!("the token store's load callback failed: {e}")))
    }

    fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        (self.save)(tokens).map_err(|e| Error::internal(format!("the token store's save callback failed: {e}")))
    }

    fn clear(&self) -> Result<(), Error> {
        match &self.clear {
            Some(clear) => {
                clear().map_err(|e| Error::internal(format!("the token store's clear callback failed: {e}")))
            }
            None => Ok(()),
        }
    }

    fn lock(&self) -> Result<Box<dyn StoreLock>, Error> {
        match &self.lock {
            Some((acquire, release)) => {
                acquire().map_err(|e| Error::internal(format!("the token store's lock callback failed: {e}")))?;
                Ok(Box::new(CallbackLock(release.clone())))
            }
            None => Ok(Box::new(NoLock)),
        }
    }
}

/// Called with the new token set each time tokens are obtained or rotated.
pub type RotationHook = Arc<dyn Fn(&TokenSet) + Send + Sync>;

#[derive(Default)]
struct Cache {
    loaded: bool,
    tokens: Option<TokenSet>,
    /// Bumped on every change, so a task that waited for a refresh can tell it happened.
    generation: u64,
}

/// Keeps the current token set, refreshes it before it expires (one refresh at a time in a
/// process, and across processes when the store locks), and tells the hooks.
///
/// Store callbacks and hooks are never called with the cache mutex held, so they may call
/// back into the client; hooks run after every lock is released.
pub(crate) struct TokenManager {
    store: Arc<dyn TokenStore>,
    cache: Mutex<Cache>,
    /// Serialises every change of the tokens in this process: refresh, login, revocation.
    writes: Arc<tokio::sync::Mutex<()>>,
    pub(crate) margin: Duration,
    hooks: Vec<RotationHook>,
}

impl TokenManager {
    pub fn new(store: Arc<dyn TokenStore>, margin: Duration, hooks: Vec<RotationHook>) -> TokenManager {
        TokenManager {
            store,
            cache: Mutex::new(Cache::default()),
            writes: Arc::default(),
            margin,
            hooks,
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ensure_loaded(&self) -> Result<(), Error> {
        if self.cache().loaded {
            return Ok(());
        }
        let loaded = self.store.load()?;
        let mut cache = self.cache();
        if !cache.loaded {
            cache.tokens = loaded;
            cache.loaded = true;
        }
        Ok(())
    }

    /// The current tokens and their generation, loading from the store the first time.
    pub fn snapshot(&self) -> Result<(Option<TokenSet>, u64), Error> {
        self.ensure_loaded()?;
        let cache = self.cache();
        Ok((cache.tokens.clone(), cache.generation))
    }

    /// The access token if it is good for at least the margin (the hot path of every call:
    /// copies only the access token), with the generation it belongs to.
    pub fn fresh_access_token(&self) -> Result<Option<(Secret, u64)>, Error> {
        self.ensure_loaded()?;
        let cache = self.cache();
        let generation = cache.generation;
        Ok(cache
            .tokens
            .as_ref()
            .filter(|t| t.is_fresh(Utc::now(), self.margin))
            .map(|t| (t.access_token.clone(), generation)))
    }

    /// Caches new tokens and reports how saving them went. A failed save still keeps them in
    /// memory (ANAF has already invalidated the previous refresh token).
    fn cache_saved(&self, tokens: &TokenSet, saved: Result<(), Error>) -> Result<(), Error> {
        {
            let mut cache = self.cache();
            cache.tokens = Some(tokens.clone());
            cache.loaded = true;
            cache.generation += 1;
        }
        saved.map_err(|e| {
            e.with_hint("the new tokens are kept in memory and were passed to the rotation hooks; save them from there")
        })
    }

    /// Saves and caches new tokens; the save (an fsync for the file store, a callback for
    /// others) runs on a blocking thread, not on the async workers.
    async fn store_and_cache(&self, tokens: &TokenSet) -> Result<(), Error> {
        let (store, copy) = (self.store.clone(), tokens.clone());
        let saved = tokio::task::spawn_blocking(move || store.save(&copy))
            .await
            .unwrap_or_else(|e| Err(Error::internal(format!("the token save task failed: {e}"))));
        self.cache_saved(tokens, saved)
    }

    fn notify(&self, tokens: &TokenSet) {
        for hook in &self.hooks {
            hook(tokens);
        }
    }

    async fn store_lock(&self) -> Result<Box<dyn StoreLock>, Error> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.lock())
            .await
            .map_err(|e| Error::internal(format!("the store lock task failed: {e}")))?
    }

    /// Installs tokens from a login, under the same locks as a refresh.
    pub async fn install(&self, tokens: TokenSet) -> Result<(), Error> {
        let writes = self.writes.lock().await;
        let store_lock = self.store_lock().await?;
        let stored = self.store_and_cache(&tokens).await;
        drop(store_lock);
        drop(writes);
        self.notify(&tokens);
        stored
    }

    /// Installs tokens given by the caller, at once (no waiting for a refresh in flight).
    pub fn install_now(&self, tokens: TokenSet) -> Result<(), Error> {
        let stored = self.cache_saved(&tokens, self.store.save(&tokens));
        self.notify(&tokens);
        stored
    }

    /// Forgets the tokens, in the store too, under the same locks as a refresh.
    pub async fn clear(&self) -> Result<(), Error> {
        let _writes = self.writes.lock().await;
        let _store_lock = self.store_lock().await?;
        self.clear_now()
    }

    pub fn clear_now(&self) -> Result<(), Error> {
        self.store.clear()?;
        let mut cache = self.cache();
        cache.tokens = None;
        cache.loaded = true;
        cache.generation += 1;
        Ok(())
    }

    /// Runs `refresh` unless someone else renewed the tokens first: another task in this
    /// process (the generation moved) or another process (the store holds other tokens than
    /// the ones this process is replacing).
    ///
    /// The work runs in its own task: if the caller stops waiting (a timeout, a cancelled
    /// call), the refresh still completes and the rotated pair is saved, because ANAF has
    /// invalidated the old refresh token the moment it answered.
    pub async fn renew<F, Fut>(
        self: &Arc<Self>,
        seen_generation: u64,
        replacing: Option<Secret>,
        refresh: F,
    ) -> Result<TokenSet, Error>
    where
        F: FnOnce(Secret) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<TokenSet, Error>> + Send + 'static,
    {
        let manager = self.clone();
        let task = tokio::spawn(async move {
            let writes = manager.writes.clone().lock_owned().await;
            let (current, generation) = manager.snapshot()?;
            if generation != seen_generation
                && let Some(current) = current.clone()
            {
                return Ok(current);
            }
            let store_lock = manager.store_lock().await?;
            let stored = manager.store.load()?;
            let replacing = replacing.or(current.as_ref().map(|t| t.access_token.clone()));
            let renewed_elsewhere = stored.clone().filter(|stored| {
                Some(&stored.access_token) != replacing.as_ref() && stored.is_fresh(Utc::now(), manager.margin)
            });
            let (tokens, saved) = match renewed_elsewhere {
                // Another process renewed them while this one waited for the lock.
                Some(stored) => {
                    let mut cache = manager.cache();
                    cache.tokens = Some(stored.clone());
                    cache.generation += 1;
                    (stored, Ok(()))
                }
                None => {
                    let Some(base) = stored.or(current) else {
                        return Err(not_logged_in());
                    };
                    let renewed = refresh(base.refresh_token).await?;
                    let saved = manager.store_and_cache(&renewed).await;
                    (renewed, saved)
                }
            };
            drop(store_lock);
            drop(writes);
            manager.notify(&tokens);
            saved.map(|()| tokens)
        });
        task.await
            .map_err(|e| Error::internal(format!("the token refresh task failed: {e}")))?
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
    fn file_store_round_trips_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(dir.path().join("sub/tokens.json"));
        assert!(store.load().unwrap().is_none());
        let tokens = TokenSet::from_response("a".into(), "r".into(), None, Utc::now());
        store.save(&tokens).unwrap();
        assert_eq!(store.load().unwrap(), Some(tokens));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
        store.clear().unwrap();
        assert!(store.load().unwrap().is_none());
    }

    #[test]
    fn corrupt_file_is_an_internal_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.json"), b"{not json").unwrap();
        let error = FileTokenStore::new(dir.path().join("t.json")).load().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Internal);
    }
}
