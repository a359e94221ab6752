//! The archive sync at volume: a sandbox holding N received invoices (daily limits relaxed),
//! archived by `EFactura::sync` in a process of its own (so its memory is the client's, not
//! the sandbox's), with a SQLite state database; then synced again over the complete archive.
//! Reports messages per second and the process's peak resident memory (VmHWM) for each N,
//! and checks that the second sync downloads nothing.
//!
//! Run: `cargo bench -p anaf --features state --bench archive_sync`
//! (`MESSAGES=1000,10000` by default; the peak should not grow with N).

use std::process::{Command, Stdio};
use std::time::Instant;

use anaf::efactura::SyncOptions;
use anaf::state::Database;
use anaf::{Application, Client};
use anaf_sandbox::{DailyLimits, Sandbox, SandboxOptions, SeedRequest};

const CIF: &str = "8000000000";

/// The process's peak resident memory in MiB (Linux; `None` elsewhere).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The child: two syncs into a fresh folder, one line of figures each.
fn child() {
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
    for run in ["first", "second"] {
        let started = Instant::now();
        let report = client
            .efactura()
            .sync(CIF, var("ANAF_ARCHIVE"), SyncOptions::new())
            .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let progress = &report.progress;
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        if run == "second" {
            assert_eq!(progress.archived, 0, "the second sync downloaded again");
        }
        println!(
            "  {run} sync: {} listed, {} archived, {} already there, {:.1} MiB of ZIP in {seconds:.1} s: {:.0} messages/s; peak RSS so far {}",
            progress.listed,
            progress.archived,
            progress.already_archived,
            progress.bytes as f64 / (1024.0 * 1024.0),
            progress.listed as f64 / seconds.max(f64::EPSILON),
            peak_rss_mib().map_or("n/a".into(), |mib| format!("{mib:.1} MiB")),
        );
    }
}

fn run(messages: u32) {
    let sandbox = Sandbox::start(
        SandboxOptions::instant()
            .daily_limits(DailyLimits::unlimited())
            .per_minute_limit(u32::MAX)
            .max_stored_bytes(4 << 30),
    )
    .expect("sandbox");
    sandbox
        .seed_received_invoices(&SeedRequest {
            cif: CIF.into(),
            count: messages,
            supplier_cif: None,
            days_back: 50,
            env: anaf_sandbox::Env::Test,
        })
        .expect("seed");
    let dir = tempfile::tempdir().unwrap();
    let app = sandbox.default_application();
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
    println!("{messages} messages:");
    let output = Command::new(std::env::current_exe().unwrap())
        .env("ANAF_BENCH_ROLE", "sync")
        .env("ANAF_STATE", dir.path().join("state.db"))
        .env("ANAF_ARCHIVE", dir.path().join("archive"))
        .env("ANAF_BASE_URL", sandbox.base_url())
        .env("ANAF_CLIENT_ID", &app.client_id)
        .env("ANAF_CLIENT_SECRET", &app.client_secret)
        .env("ANAF_REDIRECT_URI", &app.redirect_uris[0])
        .env("ANAF_CODE", code)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(output.status.success(), "the sync process failed");
    let downloads = sandbox
        .requests()
        .iter()
        .filter(|r| r.endpoint.as_deref() == Some("efactura.download"))
        .count();
    assert_eq!(
        downloads, messages as usize,
        "each message downloaded once, over both syncs"
    );
    println!("  sandbox: {downloads} downloads in all (one per message)");
}

fn main() {
    if std::env::var("ANAF_BENCH_ROLE").is_ok() {
        return child();
    }
    let sizes = std::env::var("MESSAGES").unwrap_or_else(|_| "1000,10000".into());
    for size in sizes.split(',') {
        run(size.trim().parse().expect("MESSAGES: numbers separated by commas"));
    }
}
