//! Tokens in the state database: one login shared by every process and machine that opens
//! it, with the lock that lets only one of them refresh at a time (a refresh token works
//! once: two workers refreshing together would leave one of them logged out).

use std::sync::Mutex;

use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Database, TokenLock, failure};
use crate::error::Error;
use crate::tokens::{AsyncTokenStore, TokenSet, lock_file};

/// Tokens kept in the state database under a name (one login per name: a company, or an
/// accountant's certificate), for workers on several machines (PostgreSQL) or several
/// processes of one machine (SQLite).
///
/// Every change of the tokens (login, refresh, clear) happens under a lock that spans the
/// database's users: on PostgreSQL a session advisory lock held on a connection of its own,
/// on a SQLite file the system's lock on the file `<database>-tokens.lock` beside it. Both
/// are released by the server or the system when the process holding them dies, so a crash
/// never leaves the others locked out.
///
/// The database holds the refresh token in clear, as the token file does: give its access to
/// the programs that may act for the company only.
pub struct DatabaseTokenStore {
    database: Database,
    name: String,
    held: Mutex<Option<HeldLock>>,
}

/// The lock while a change is under way; dropping it releases it.
enum HeldLock {
    /// The connection that holds the advisory lock, out of the pool: closing it (or losing
    /// it) ends the session and so the lock, and no other query can reuse a locked session.
    Advisory(sqlx::AnyConnection),
    File(#[allow(dead_code)] std::fs::File),
    Process(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>),
}

impl std::fmt::Debug for DatabaseTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseTokenStore")
            .field("database", &self.database)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl DatabaseTokenStore {
    /// The login kept under `name` (any text; one per company or certificate that logs in).
    pub fn new(database: Database, name: impl Into<String>) -> Result<DatabaseTokenStore, Error> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(Error::invalid_input(
                "database_tokens",
                "the name of the login is empty",
            ));
        }
        Ok(DatabaseTokenStore {
            database,
            name,
            held: Mutex::new(None),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The advisory lock's number: the same for every program that shares this login.
    fn advisory_key(&self) -> i64 {
        let digest = Sha256::digest(format!("anaf tokens\0{}", self.name));
        i64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
    }

    async fn acquire(&self) -> Result<HeldLock, Error> {
        let locking = |e| failure("cannot lock the tokens in the state database", e);
        Ok(match &self.database.token_lock {
            TokenLock::Advisory => {
                let mut connection = self.database.pool.acquire().await.map_err(locking)?.detach();
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(self.advisory_key())
                    .execute(&mut connection)
                    .await
                    .map_err(locking)?;
                HeldLock::Advisory(connection)
            }
            TokenLock::File(path) => {
                let path = path.clone();
                // The system's lock waits in a blocking call: on the blocking pool.
                let file = tokio::task::spawn_blocking(move || lock_file(&path))
                    .await
                    .map_err(|e| Error::internal(format!("the token lock's thread failed: {e}")))?
                    .map_err(|e| Error::internal("cannot lock the tokens in the state database").with_source(e))?;
                HeldLock::File(file)
            }
            TokenLock::Process(mutex) => HeldLock::Process(mutex.clone().lock_owned().await),
        })
    }
}

impl AsyncTokenStore for DatabaseTokenStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<TokenSet>, Error>> {
        Box::pin(async move {
            let reading = |e| failure("cannot read the tokens from the state database", e);
            let row = sqlx::query("SELECT tokens FROM anaf_tokens WHERE name = $1")
                .bind(&self.name)
                .fetch_optional(&self.database.pool)
                .await
                .map_err(reading)?;
            match row {
                Some(row) => {
                    let json: String = row.try_get("tokens").map_err(reading)?;
                    TokenSet::from_json(&json).map(Some)
                }
                None => Ok(None),
            }
        })
    }

    fn save<'a>(&'a self, tokens: &'a TokenSet) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO anaf_tokens (name, tokens, saved_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET tokens = excluded.tokens, saved_at = excluded.saved_at",
            )
            .bind(&self.name)
            .bind(tokens.to_json())
            .bind(chrono::Utc::now().to_rfc3339())
            .execute(&self.database.pool)
            .await
            .map_err(|e| failure("cannot save the tokens in the state database", e))?;
            Ok(())
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM anaf_tokens WHERE name = $1")
                .bind(&self.name)
                .execute(&self.database.pool)
                .await
                .map_err(|e| failure("cannot clear the tokens in the state database", e))?;
            Ok(())
        })
    }

    fn lock(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let held = self.acquire().await?;
            // The manager takes this lock once at a time per store; a second holder would be
            // a bug of ours, refused rather than left to release the first one's lock.
            let mut slot = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_some() {
                return Err(Error::internal("the token store's lock is already held"));
            }
            *slot = Some(held);
            Ok(())
        })
    }

    fn unlock(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(HeldLock::Advisory(mut connection)) = held {
                // Closing the session releases the lock too; unlocking first makes it
                // immediate even if the close is slow.
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(self.advisory_key())
                    .execute(&mut connection)
                    .await;
                let _ = sqlx::Connection::close(connection).await;
            }
        })
    }

    fn sharing_key(&self) -> Option<String> {
        Some(format!("database:{}\0{}", self.database.identity, self.name))
    }
}
