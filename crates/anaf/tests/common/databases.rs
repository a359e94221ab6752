//! A fresh state database on each engine, for the tests of the `state` feature: SQLite
//! always, PostgreSQL when `ANAF_TEST_POSTGRES` names a server (`scripts/postgres start`;
//! `scripts/test-all` sets it and `ANAF_REQUIRE_POSTGRES=1`, so CI cannot skip it).

use sqlx::{Connection, Executor};

/// A fresh database on each engine: (engine name, URL). The temporary folder holds the
/// SQLite file.
pub async fn fresh_databases() -> (tempfile::TempDir, Vec<(&'static str, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut databases = vec![("sqlite", dir.path().join("state.db").to_str().unwrap().to_owned())];
    match std::env::var("ANAF_TEST_POSTGRES") {
        Ok(server) => {
            let name = format!("anaf_test_{}", fastrand::u64(..));
            let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            let (base, _) = server.rsplit_once('/').unwrap();
            databases.push(("postgres", format!("{base}/{name}")));
        }
        Err(_) => {
            assert!(
                std::env::var("ANAF_REQUIRE_POSTGRES").is_err(),
                "ANAF_REQUIRE_POSTGRES is set but ANAF_TEST_POSTGRES names no server"
            );
            eprintln!("note: ANAF_TEST_POSTGRES is not set; PostgreSQL is not tested");
        }
    }
    (dir, databases)
}
