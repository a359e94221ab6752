//! The Rust side of the C ABI benchmark (`scripts/bench-c`, BENCHMARKS.md "C ABI"): the
//! core's blocking `status` in a loop against an in-process sandbox, set up exactly as
//! `benches/c/ffi_bench.c` sets up the same call through the C ABI. Prints the median.

use std::time::{Duration, Instant};

const WARMUP: usize = 300;

fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(3000);
    let sandbox = anaf_sandbox::Sandbox::start(
        anaf_sandbox::SandboxOptions::instant()
            .per_minute_limit(1_000_000)
            .daily_limits(anaf_sandbox::DailyLimits {
                efactura_status: 100_000_000,
                ..Default::default()
            }),
    )
    .unwrap();
    let app = sandbox.default_application();
    let client = anaf_core::Client::builder()
        .base_url(sandbox.base_url())
        .unwrap()
        .application(anaf_core::Application::new(
            app.client_id.clone(),
            app.client_secret.clone(),
            app.redirect_uris[0].clone(),
        ))
        .requests_per_minute(None)
        .build_blocking()
        .unwrap();
    let code = sandbox
        .authorize(&anaf_sandbox::AuthorizeRequest {
            client_id: app.client_id.clone(),
            redirect_uri: app.redirect_uris[0].clone(),
            serial: anaf_sandbox::DEFAULT_SERIAL.into(),
            state: None,
            token_content_type: "jwt".into(),
        })
        .unwrap();
    client.oauth().exchange_code(&code.code).unwrap();
    let invoice = anaf_sandbox::samples::invoice_xml(&anaf_sandbox::samples::InvoiceSpec::new(
        "B-1",
        "8000000000",
        "12345674",
    ));
    let upload_id = client
        .efactura()
        .upload(invoice, "8000000000", Default::default())
        .unwrap()
        .upload_id;
    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    for i in 0..WARMUP + rounds {
        let started = Instant::now();
        std::hint::black_box(client.efactura().status(upload_id).unwrap());
        if i >= WARMUP {
            times.push(started.elapsed());
        }
    }
    times.sort();
    println!("Rust status median {:.1} us", times[rounds / 2].as_secs_f64() * 1e6);
}
