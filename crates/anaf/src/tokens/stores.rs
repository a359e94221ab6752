//! The token stores the client provides: memory, a file, and callbacks.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{NoLock, StoreLock, TokenSet, TokenStore, owner_only};
use crate::error::{Error, ErrorKind};

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

/// Tokens in a JSON file (the form of [`TokenSet::to_json`]), replaced atomically (write a
/// temporary file, flush it to disk, rename it over the old one), with a lock file
/// (`<path>.lock`) that serialises every change of the tokens across processes.
///
/// Who can read it: the file and its lock are created for their user alone: mode 0600 on Unix,
/// and on Windows an access list with one entry, the user, that inherits nothing from the
/// folder. On Windows, a save that finds the file held open by another program (an
/// antivirus, an indexer) retries the replacement for about a second before it fails.
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

    pub(crate) fn lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    fn io_error(&self, action: &str, e: io::Error) -> Error {
        Error::new(
            ErrorKind::Internal,
            format!("cannot {action} the token file {}", self.path.display()),
        )
        .with_source(e)
    }
}

/// Waits for the exclusive lock of `path` (created owner-only if missing), held until the
/// file is closed; the system releases it when the process dies.
pub(crate) fn lock_file(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Made owner-only by whoever creates it first; later opens use the existing file.
    let file = match owner_only::create(path, true) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new().read(true).write(true).open(path),
        created => created,
    }?;
    file.lock()?;
    Ok(file)
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
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
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
        let json = tokens.to_json_pretty();
        let write = || -> io::Result<()> {
            let mut file = owner_only::create(&temp, false)?;
            file.write_all(&json)?;
            file.sync_all()?;
            drop(file);
            owner_only::replace(&temp, &self.path)?;
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
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error("remove", e)),
        }
    }

    fn lock(&self) -> Result<Box<dyn StoreLock>, Error> {
        let file = lock_file(&self.lock_path()).map_err(|e| self.io_error("lock", e))?;
        Ok(Box::new(FileLock(file)))
    }

    fn sharing_key(&self) -> Option<String> {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        Some(format!("file:{}", path.display()))
    }
}

type LoadFn = dyn Fn() -> Result<Option<TokenSet>, String> + Send + Sync;
type SaveFn = dyn Fn(&TokenSet) -> Result<(), String> + Send + Sync;
type ClearFn = dyn Fn() -> Result<(), String> + Send + Sync;
type LockFn = dyn Fn() -> Result<(), String> + Send + Sync;
type UnlockFn = dyn Fn() + Send + Sync;

/// A store made of callbacks: how C, C#, Delphi, Python and Node programs keep tokens in their
/// own storage. A callback's error text becomes an [`ErrorKind::Internal`] error. Like every
/// [`TokenStore`], the callbacks run on a thread of the runtime's blocking pool, never on an
/// async worker and never while the client holds its cache lock.
pub struct CallbackTokenStore {
    load: Box<LoadFn>,
    save: Box<SaveFn>,
    clear: Option<Box<ClearFn>>,
    lock: Option<(Arc<LockFn>, Arc<UnlockFn>)>,
    sharing_key: Option<String>,
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
            sharing_key: None,
        }
    }

    /// Names the storage these callbacks reach (e.g. `"erp-db:company-42"`), so that every
    /// client of this process built with a store of the same name shares one token manager:
    /// one refresh at a time even when the program makes a new client (and a new store) per
    /// operation. Without it, only clients given the same `Arc` share (see
    /// `ClientBuilder::shared_token_store`); across processes, use [`Self::with_lock`].
    pub fn with_sharing_key(mut self, key: impl Into<String>) -> Self {
        self.sharing_key = Some(key.into());
        self
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
    fn sharing_key(&self) -> Option<String> {
        self.sharing_key.as_ref().map(|key| format!("callback:{key}"))
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

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

    #[test]
    fn two_values_of_one_file_store_share_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = FileTokenStore::new(dir.path().join("t.json"));
        let b = FileTokenStore::new(dir.path().join("./t.json"));
        assert!(a.sharing_key().is_some());
        assert_eq!(a.sharing_key(), b.sharing_key());
        let c = FileTokenStore::new(dir.path().join("other.json"));
        assert_ne!(a.sharing_key(), c.sharing_key());
    }
}
