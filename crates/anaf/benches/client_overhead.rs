//! Per-call cost of the client against a raw reqwest request plus the same parsing, on the
//! same sandbox endpoint over loopback. Run: `cargo bench -p anaf --bench client_overhead`.
//!
//! The two are measured interleaved (raw, client, raw, client, ... alternating which goes
//! first), so drift on a shared machine (the sandbox runs on the same two cores) hits both
//! alike; the report gives medians and the ratio of medians.
//!
//! The client is built without its per-minute limiter, which would by design hold a benchmark
//! to 1000 calls a minute; the `limiter on` line shows the limiter's cost with a budget too
//! large to bind.

use std::future::Future;
use std::time::{Duration, Instant};

use anaf::efactura::{UploadOptions, UploadState};
use anaf::{Application, Client, RetryPolicy};
use anaf_sandbox::{DailyLimits, Sandbox, SandboxOptions, SeedRequest};

const CIF: &str = "8000000000";
const WARMUP: usize = 300;
const ROUNDS: usize = 3000;

/// The raw side parses what the client parses: the status header's attributes.
fn raw_stare(body: &[u8]) -> (String, Option<u64>) {
    let mut reader = quick_xml::Reader::from_reader(body);
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Empty(e) | quick_xml::events::Event::Start(e) => {
                let mut stare = String::new();
                let mut id = None;
                for attr in e.attributes().flatten() {
                    let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap();
                    match attr.key.as_ref() {
                        "stare" => stare = value.into_owned(),
                        "id_descarcare" => id = value.parse().ok(),
                        _ => {}
                    }
                }
                return (stare, id);
            }
            quick_xml::events::Event::Eof => panic!("no header"),
            _ => {}
        }
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn p90(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() * 9 / 10]
}

async fn timed<T>(future: impl Future<Output = T>) -> Duration {
    let started = Instant::now();
    std::hint::black_box(future.await);
    started.elapsed()
}

/// Runs `raw` and `client` interleaved and prints medians and the ratio.
async fn compare<R, C, RF, CF, RT, CT>(name: &str, raw: R, client: C)
where
    R: Fn() -> RF,
    C: Fn() -> CF,
    RF: Future<Output = RT>,
    CF: Future<Output = CT>,
{
    for _ in 0..WARMUP {
        raw().await;
        client().await;
    }
    let (mut raw_times, mut client_times) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            raw_times.push(timed(raw()).await);
            client_times.push(timed(client()).await);
        } else {
            client_times.push(timed(client()).await);
            raw_times.push(timed(raw()).await);
        }
    }
    let (raw_median, client_median) = (median(&mut raw_times), median(&mut client_times));
    println!(
        "{name:<34} raw {:>7.1} µs (p90 {:>7.1})   client {:>7.1} µs (p90 {:>7.1})   ratio {:.3}",
        raw_median.as_secs_f64() * 1e6,
        p90(&mut raw_times).as_secs_f64() * 1e6,
        client_median.as_secs_f64() * 1e6,
        p90(&mut client_times).as_secs_f64() * 1e6,
        client_median.as_secs_f64() / raw_median.as_secs_f64()
    );
}

fn main() {
    let options = SandboxOptions::instant()
        .per_minute_limit(u32::MAX)
        .daily_limits(DailyLimits {
            efactura_status: u32::MAX,
            efactura_download: u32::MAX,
            efactura_list: u32::MAX,
            ..DailyLimits::default()
        });
    let sandbox = Sandbox::start(options).unwrap();
    let app = sandbox.default_application();
    let builder = Client::builder()
        .base_url(sandbox.base_url())
        .unwrap()
        .application(Application::new(
            &app.client_id,
            app.client_secret.as_str(),
            &app.redirect_uris[0],
        ))
        .retry_policy(RetryPolicy::none());
    let client = builder.clone().requests_per_minute(None).build().unwrap();
    let limited = builder.requests_per_minute(Some(u32::MAX)).build().unwrap();
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tokens = client.oauth().exchange_code(&code).await.unwrap();
        limited.oauth().set_tokens(tokens.clone()).await.unwrap();
        let token = tokens.access_token.expose().to_owned();
        let xml = anaf_sandbox::samples::invoice_xml(&anaf_sandbox::samples::InvoiceSpec::new("B-1", CIF, "12345674"));
        let receipt = client
            .efactura()
            .upload(xml, CIF, UploadOptions::default())
            .await
            .unwrap();
        let UploadState::Ok { download_id } = client.efactura().status(receipt.upload_id).await.unwrap() else {
            panic!()
        };
        sandbox
            .seed_received_invoices(&SeedRequest {
                cif: CIF.into(),
                count: 49,
                supplier_cif: None,
                days_back: 0,
                env: anaf_sandbox::Env::Test,
            })
            .unwrap();
        let raw = reqwest::Client::new();
        let base = sandbox.base_url().to_owned();
        println!("{ROUNDS} interleaved rounds after {WARMUP} warm-up rounds; loopback to an in-process sandbox");

        let status_url = format!("{base}/test/FCTEL/rest/stareMesaj?id_incarcare={}", receipt.upload_id);
        let raw_status = || async {
            let body = raw
                .get(&status_url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            raw_stare(&body)
        };
        compare("status", raw_status, || async {
            client.efactura().status(receipt.upload_id).await.unwrap()
        })
        .await;
        compare("status (limiter on)", raw_status, || async {
            limited.efactura().status(receipt.upload_id).await.unwrap()
        })
        .await;

        let list_url = format!("{base}/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}");
        compare(
            "list (50 messages)",
            || async {
                let body = raw
                    .get(&list_url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                serde_json::from_slice::<serde_json::Value>(&body).unwrap()
            },
            || async { client.efactura().list_messages(CIF, 1, None).await.unwrap() },
        )
        .await;

        let download_url = format!("{base}/test/FCTEL/rest/descarcare?id={download_id}");
        compare(
            "download (3 KB invoice ZIP)",
            || async {
                let body = raw
                    .get(&download_url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                zip::ZipArchive::new(std::io::Cursor::new(body)).unwrap().len()
            },
            || async { client.efactura().download(download_id).await.unwrap() },
        )
        .await;
    });
}
