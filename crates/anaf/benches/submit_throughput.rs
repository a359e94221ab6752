//! Duplicate-safe submission through one state database from several processes: 4 processes
//! submit 2 500 invoices each (10 000 in all) to one sandbox, on SQLite and, when
//! `ANAF_TEST_POSTGRES` names a server (`scripts/postgres start`), on PostgreSQL. Reports
//! invoices per second (wall time, from the first process started to the last one done) and
//! checks that ANAF holds each invoice exactly once.
//!
//! Run: `cargo bench -p anaf --features state --bench submit_throughput`
//! (`PROCESSES=4 INVOICES=2500` by default).

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anaf::efactura::UploadOptions;
use anaf::state::Database;
use anaf::{Application, Client};
use anaf_sandbox::{DailyLimits, Sandbox, SandboxOptions};

const CIF: &str = "8000000000";
const BUYER: &str = "12345674";

fn number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A child: submits its share of invoices, then prints how long it took.
fn child(role: &str) {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"));
    let database = anaf::runtime::block_on(Database::open(&var("ANAF_STATE"))).expect("database");
    let client = Client::builder()
        .base_url(&var("ANAF_BASE_URL"))
        .unwrap()
        .application(Application::new(
            var("ANAF_CLIENT_ID"),
            var("ANAF_CLIENT_SECRET"),
            var("ANAF_REDIRECT_URI"),
        ))
        .state(database)
        .requests_per_minute(None)
        .build_blocking()
        .unwrap();
    client.oauth().exchange_code(&var("ANAF_CODE")).unwrap();
    let invoices = number("INVOICES", 2500);
    let started = Instant::now();
    for n in 0..invoices {
        let xml = anaf_sandbox::samples::invoice_xml(&anaf_sandbox::samples::InvoiceSpec::new(
            &format!("B-{role}-{n}"),
            CIF,
            BUYER,
        ));
        let record = client.efactura().submit(xml, CIF, UploadOptions::default()).unwrap();
        assert!(record.upload_id.is_some(), "{record:?}");
    }
    println!("child {role}: {invoices} in {:.2} s", started.elapsed().as_secs_f64());
}

fn run(engine: &str, url: &str, processes: usize) {
    let sandbox = Sandbox::start(
        SandboxOptions::instant()
            .daily_limits(DailyLimits::unlimited())
            .per_minute_limit(u32::MAX)
            .max_stored_bytes(4 << 30),
    )
    .expect("sandbox");
    // Made before the children start, so they do not race to create the schema.
    anaf::runtime::block_on(Database::open(url)).expect("database");
    let app = sandbox.default_application();
    let started = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|role| {
            let code = sandbox
                .authorize(&anaf_sandbox::AuthorizeRequest {
                    client_id: app.client_id.clone(),
                    redirect_uri: app.redirect_uris[0].clone(),
                    serial: anaf_sandbox::DEFAULT_SERIAL.into(),
                    state: None,
                    token_content_type: "jwt".into(),
                })
                .unwrap()
                .code;
            Command::new(std::env::current_exe().unwrap())
                .env("ANAF_BENCH_ROLE", role.to_string())
                .env("ANAF_STATE", url)
                .env("ANAF_BASE_URL", sandbox.base_url())
                .env("ANAF_CLIENT_ID", &app.client_id)
                .env("ANAF_CLIENT_SECRET", &app.client_secret)
                .env("ANAF_REDIRECT_URI", &app.redirect_uris[0])
                .env("ANAF_CODE", code)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a child failed");
        print!("  {}", String::from_utf8_lossy(&output.stdout));
    }
    let elapsed = started.elapsed();
    let uploads = sandbox.uploads(Some(CIF));
    let distinct: HashSet<_> = uploads.iter().map(|u| u.sha256.clone()).collect();
    let total = processes * number("INVOICES", 2500);
    assert_eq!((uploads.len(), distinct.len()), (total, total), "each invoice once");
    println!(
        "{engine}: {processes} processes, {total} invoices in {:.1} s: {:.0} invoices per second",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
    );
    std::thread::sleep(Duration::from_millis(100));
}

fn main() {
    if let Ok(role) = std::env::var("ANAF_BENCH_ROLE") {
        return child(&role);
    }
    let processes = number("PROCESSES", 4);
    let dir = tempfile::tempdir().unwrap();
    run("sqlite", dir.path().join("state.db").to_str().unwrap(), processes);
    match std::env::var("ANAF_TEST_POSTGRES") {
        Ok(server) => {
            // A fresh database on that server.
            let name = format!("anaf_bench_{}", std::process::id());
            anaf::runtime::block_on(async {
                use sqlx::{Connection, Executor};
                let failed = |e: sqlx::Error| anaf::Error::internal(e.to_string());
                let mut admin = sqlx::PgConnection::connect(&server).await.map_err(failed)?;
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .map_err(failed)
            })
            .expect("a database on ANAF_TEST_POSTGRES");
            let (base, _) = server.rsplit_once('/').unwrap();
            run("postgres", &format!("{base}/{name}"), processes);
        }
        Err(_) => println!("postgres: skipped (set ANAF_TEST_POSTGRES; scripts/postgres start)"),
    }
}
