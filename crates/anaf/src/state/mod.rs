//! Durable state (cargo feature `state`) on SQLite or PostgreSQL, shared by every process and
//! machine that opens the same database: the quota ledger, the submission journal
//! ([`crate::efactura::EFactura::submit`]) and, when asked, the tokens ([`DatabaseTokenStore`]).
//!
//! SQLite (bundled: nothing to install) is one file for one machine; PostgreSQL is for
//! workers on several machines. Both go through sqlx's `Any` driver with the same SQL text
//! (SQLite reads PostgreSQL's `$1` parameters), so each statement is written once. The schema
//! is created and upgraded by [`Database::open`]: numbered migrations embedded in the
//! library, applied in one transaction under a lock (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's
//! transaction-scoped advisory lock), so processes that open a database together apply each
//! migration once. A database written by a newer version of the library is refused rather
//! than misread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Connection, Executor, Row};

use crate::error::Error;
use crate::quota::{Charge, Counter, QuotaLedger};

pub(crate) mod archive;
pub(crate) mod journal;
mod tokens;
pub use journal::{SubmissionQuery, SubmissionRecord, SubmissionState};
pub use tokens::DatabaseTokenStore;

/// The schema's migrations, in order; a database records the last one applied.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_quota.sql"),
    include_str!("migrations/0002_submissions.sql"),
    include_str!("migrations/0003_tokens.sql"),
    include_str!("migrations/0004_archive.sql"),
];

/// The number of the newest schema this library knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Which database engine a [`Database`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A state database: cheap to clone (one connection pool). Implements [`QuotaLedger`].
#[derive(Clone)]
pub struct Database {
    pub(crate) pool: AnyPool,
    engine: Engine,
    /// Names the database without its password: clients of one process on the same database
    /// share one token manager.
    identity: Arc<str>,
    /// How the token store's lock is taken across processes.
    pub(crate) token_lock: TokenLock,
}

/// The cross-process lock of [`DatabaseTokenStore`], chosen by engine.
#[derive(Clone)]
pub(crate) enum TokenLock {
    /// PostgreSQL: a session advisory lock, on a connection of its own (every machine).
    Advisory,
    /// A SQLite file: the system's lock on a file beside it (every process of the machine).
    File(Arc<std::path::PathBuf>),
    /// A memory database (one process): a lock of this process.
    Process(Arc<tokio::sync::Mutex<()>>),
}

impl std::fmt::Debug for Database {
    // The URL is not kept: a PostgreSQL URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens (creating if needed) and migrates a state database:
    /// - `postgres://user:password@host/database` (or `postgresql://`);
    /// - `sqlite://path/to/file.db`, `sqlite::memory:` (this process only), or a plain file
    ///   path, which is a SQLite file created if missing. A memory database is shared by
    ///   the clones of this `Database` (one connection), and gone when they are.
    pub async fn open(url: &str) -> Result<Database, Error> {
        sqlx::any::install_default_drivers();
        let (engine, url) = locate(url)?;
        // sqlx's `Any` makes each connection from the URL anew, and each in-memory SQLite
        // connection is a database of its own: a memory database is one connection, kept.
        let in_memory = engine == Engine::Sqlite && url.contains(":memory:");
        let options = AnyPoolOptions::new()
            .max_connections(match engine {
                _ if in_memory => 1,
                Engine::Sqlite => 4,
                Engine::Postgres => 8,
            })
            .min_connections(u32::from(in_memory))
            .idle_timeout((!in_memory).then_some(Duration::from_secs(600)))
            .max_lifetime((!in_memory).then_some(Duration::from_secs(1800)))
            .acquire_timeout(Duration::from_secs(60));
        let options = match engine {
            // Writers wait for each other (up to 60 s) instead of failing at once.
            Engine::Sqlite => options.after_connect(|connection, _| {
                Box::pin(async move {
                    connection.execute("PRAGMA busy_timeout = 60000").await?;
                    Ok(())
                })
            }),
            Engine::Postgres => options,
        };
        // One plain connection first: the pool would retry a refused or misconfigured
        // server until its acquire timeout, and a wrong URL deserves an answer at once.
        let probe = sqlx::AnyConnection::connect(&url)
            .await
            .map_err(|e| failure("cannot open the state database", e))?;
        let _ = probe.close().await;
        let pool = options
            .connect(&url)
            .await
            .map_err(|e| failure("cannot open the state database", e))?;
        if engine == Engine::Sqlite && !in_memory {
            // Readers do not block the writer, and a commit is one append to the log.
            sqlx::raw_sql("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(|e| failure("cannot open the state database", e))?;
        }
        let (identity, token_lock) = match engine {
            Engine::Postgres => (without_password(&url), TokenLock::Advisory),
            _ if in_memory => {
                static MEMORY_DATABASES: AtomicU64 = AtomicU64::new(0);
                let number = MEMORY_DATABASES.fetch_add(1, Ordering::Relaxed);
                (format!("sqlite-memory:{number}"), TokenLock::Process(Arc::default()))
            }
            Engine::Sqlite => {
                let file = sqlite_file(&url);
                let file = std::path::absolute(&file).unwrap_or(file);
                let mut lock = file.clone().into_os_string();
                lock.push("-tokens.lock");
                (
                    format!("sqlite:{}", file.display()),
                    TokenLock::File(Arc::new(lock.into())),
                )
            }
        };
        let database = Database {
            pool,
            engine,
            identity: identity.into(),
            token_lock,
        };
        database.migrate().await?;
        database.forget_old_counts().await?;
        Ok(database)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The schema version the database holds (after `open`, [`SCHEMA_VERSION`]).
    pub async fn schema_version(&self) -> Result<i64, Error> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS version FROM anaf_schema_version")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| failure("cannot read the schema version", e))?;
        row.try_get::<i64, _>("version")
            .map_err(|e| failure("cannot read the schema version", e))
    }

    /// Closes the connections (waiting for the ones in use).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Daily counts are read for today only; a week of them is kept for a look back.
    async fn forget_old_counts(&self) -> Result<(), Error> {
        let today = crate::quota::bucharest_day(chrono::Utc::now());
        let oldest = today - chrono::Duration::days(7);
        sqlx::query("DELETE FROM anaf_quota_usage WHERE day < $1")
            .bind(day_text(oldest))
            .execute(&self.pool)
            .await
            .map_err(|e| failure("the quota ledger failed", e))?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), Error> {
        let migrating = |e| failure("cannot migrate the state database", e);
        let mut transaction = match self.engine {
            // Takes the write lock at once, so two processes cannot both read version N and
            // both apply N + 1.
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.pool.begin().await,
        }
        .map_err(migrating)?;
        if self.engine == Engine::Postgres {
            // "anaf" in ASCII: one lock number for every program that migrates this schema.
            sqlx::raw_sql("SELECT pg_advisory_xact_lock(1634623846)")
                .execute(&mut *transaction)
                .await
                .map_err(migrating)?;
        }
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS anaf_schema_version (version BIGINT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .execute(&mut *transaction)
        .await
        .map_err(migrating)?;
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS version FROM anaf_schema_version")
            .fetch_one(&mut *transaction)
            .await
            .and_then(|row| row.try_get("version"))
            .map_err(migrating)?;
        if current > SCHEMA_VERSION {
            return Err(Error::internal(format!(
                "the state database has schema version {current}, written by a newer version of this library (which knows up to {SCHEMA_VERSION}); upgrade the library"
            )));
        }
        for (number, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = number as i64 + 1;
            // The one type the engines spell differently.
            let sql = sql.replace(
                "{BYTES}",
                match self.engine {
                    Engine::Sqlite => "BLOB",
                    Engine::Postgres => "BYTEA",
                },
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *transaction)
                .await
                .map_err(migrating)?;
            sqlx::query("INSERT INTO anaf_schema_version (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(chrono::Utc::now().to_rfc3339())
                .execute(&mut *transaction)
                .await
                .map_err(migrating)?;
            tracing::info!(version, "state database migrated");
        }
        transaction.commit().await.map_err(migrating)?;
        Ok(())
    }
}

/// The engine and the URL sqlx reads; a SQLite file is created if missing.
fn locate(url: &str) -> Result<(Engine, String), Error> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Engine::Postgres, url.to_owned()));
    }
    if url.is_empty() {
        return Err(Error::invalid_input("database", "the database URL or path is empty"));
    }
    let url = match url.strip_prefix("sqlite:") {
        Some(rest) if rest.contains("memory") || rest.contains("mode=") => url.to_owned(),
        Some(_) if url.contains('?') => format!("{url}&mode=rwc"),
        Some(_) => format!("{url}?mode=rwc"),
        None if url.contains("://") => {
            return Err(Error::invalid_input(
                "database",
                "the database must be a postgres:// or sqlite: URL, or a file path",
            ));
        }
        None => format!("sqlite://{url}?mode=rwc"),
    };
    Ok((Engine::Sqlite, url))
}

/// The file of a SQLite URL as `locate` writes it (`sqlite://PATH?mode=rwc` or `sqlite:PATH`).
fn sqlite_file(url: &str) -> std::path::PathBuf {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    path.split('?').next().unwrap_or(path).into()
}

/// A PostgreSQL URL with its password taken out.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "postgres:unparsable".into(),
    }
}

/// A database failure, with sqlx's error as the source (its text names no password: sqlx
/// reports the server's message, never the URL).
pub(crate) fn failure(what: &str, error: sqlx::Error) -> Error {
    Error::internal(format!("{what}: {error}")).with_source(error)
}

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

impl QuotaLedger for Database {
    fn charge<'a>(
        &'a self,
        day: NaiveDate,
        charge: &'a Charge,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<u32>, Error>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(None);
            }
            // One statement: the row is counted up only while under the limit, atomically on
            // both engines, whoever else is charging the same budget.
            let row = sqlx::query(
                "INSERT INTO anaf_quota_usage (day, counter, scope_key, used) VALUES ($1, $2, $3, 1)
                 ON CONFLICT (day, counter, scope_key) DO UPDATE SET used = anaf_quota_usage.used + 1
                 WHERE anaf_quota_usage.used < $4
                 RETURNING used",
            )
            .bind(day_text(day))
            .bind(charge.counter.code())
            .bind(&charge.key)
            .bind(i64::from(limit))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| failure("the quota ledger failed", e))?;
            Ok(match row {
                Some(row) => Some(
                    row.try_get::<i64, _>("used")
                        .map_err(|e| failure("the quota ledger failed", e))? as u32,
                ),
                None => None,
            })
        })
    }

    fn exhaust<'a>(&'a self, day: NaiveDate, charge: &'a Charge, limit: u32) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO anaf_quota_usage (day, counter, scope_key, used) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (day, counter, scope_key) DO UPDATE
                 SET used = CASE WHEN anaf_quota_usage.used < $4 THEN $4 ELSE anaf_quota_usage.used END",
            )
            .bind(day_text(day))
            .bind(charge.counter.code())
            .bind(&charge.key)
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await
            .map_err(|e| failure("the quota ledger failed", e))?;
            Ok(())
        })
    }

    fn counts(&self, day: NaiveDate) -> BoxFuture<'_, Result<Vec<(Charge, u32)>, Error>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT counter, scope_key, used FROM anaf_quota_usage WHERE day = $1")
                .bind(day_text(day))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| failure("the quota ledger failed", e))?;
            let mut counts = Vec::with_capacity(rows.len());
            for row in rows {
                let read = |e| failure("the quota ledger failed", e);
                let counter: String = row.try_get("counter").map_err(read)?;
                // A counter this version does not know (a newer program shares the ledger).
                let Ok(counter) = counter.parse::<Counter>() else {
                    continue;
                };
                let key: String = row.try_get("scope_key").map_err(read)?;
                let used: i64 = row.try_get("used").map_err(read)?;
                counts.push((Charge { counter, key }, used.clamp(0, u32::MAX as i64) as u32));
            }
            Ok(counts)
        })
    }
}
