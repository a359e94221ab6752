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

/// This test program run again for one of its ignored tests (`test`), as a second process on
/// the parent's sandbox and state database, with a fresh authorization code.
pub fn child_process(test: &str, sandbox: &anaf_sandbox::Sandbox, state_url: &str) -> std::process::Command {
    let app = sandbox.default_application();
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"])
        .env("ANAF_STATE", state_url)
        .env("ANAF_BASE_URL", sandbox.base_url())
        .env("ANAF_CLIENT_ID", &app.client_id)
        .env("ANAF_CLIENT_SECRET", &app.client_secret)
        .env("ANAF_REDIRECT_URI", &app.redirect_uris[0])
        .env("ANAF_CODE", super::common::code(sandbox));
    command
}

/// A variable `child_process` (or the parent test) set for this child.
pub fn child_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
}

/// In a child process: a builder on the parent's sandbox and application, and the state
/// database opened.
pub fn child_builder() -> (anaf::ClientBuilder, anaf::state::Database) {
    let database = anaf::runtime::block_on(anaf::state::Database::open(&child_var("ANAF_STATE"))).unwrap();
    let builder = anaf::Client::builder()
        .base_url(&child_var("ANAF_BASE_URL"))
        .unwrap()
        .application(anaf::Application::new(
            child_var("ANAF_CLIENT_ID"),
            child_var("ANAF_CLIENT_SECRET"),
            child_var("ANAF_REDIRECT_URI"),
        ));
    (builder, database)
}

/// In a child process: a blocking client of [`child_builder`], logged in (`configure`
/// chooses how the database is used).
pub fn child_client(
    configure: impl FnOnce(anaf::ClientBuilder, anaf::state::Database) -> anaf::ClientBuilder,
) -> anaf::blocking::Client {
    let (builder, database) = child_builder();
    let client = configure(builder, database).build_blocking().unwrap();
    client.oauth().exchange_code(&child_var("ANAF_CODE")).unwrap();
    client
}
