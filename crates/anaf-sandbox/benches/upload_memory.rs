//! Heap used by the sandbox while it receives 10 MB uploads: a counting global allocator
//! records the peak of live heap bytes above the level before the upload(s). Run:
//! `cargo bench -p anaf-sandbox --bench upload_memory`.
//!
//! Uses only API that predates the compact parse, so the same file measures both versions.

use anaf_sandbox::samples::{InvoiceSpec, LineSpec, invoice_xml};
use anaf_sandbox::{AuthorizeRequest, Sandbox, SandboxOptions};

#[path = "../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const CIF: &str = "8000000000";
const SIZE: usize = 10_000_000;

/// A UBL invoice root holding `<a/>` elements up to `size` bytes.
fn tiny_elements(size: usize) -> Vec<u8> {
    let head = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\">";
    let tail = b"</Invoice>";
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head);
    while body.len() + 4 + tail.len() <= size {
        body.extend_from_slice(b"<a/>");
    }
    body.extend_from_slice(tail);
    body
}

/// A valid CIUS-RO invoice with as many lines as fit in about `size` bytes.
fn many_lines(size: usize, number: &str) -> Vec<u8> {
    let mut spec = InvoiceSpec::new(number, CIF, "33333338");
    let one_line = invoice_xml(&spec).len();
    spec.lines = (0..1)
        .map(|i| LineSpec {
            name: format!("Articol {i}"),
            quantity: 1,
            unit_price_cents: 100,
        })
        .collect();
    let two_lines = {
        let mut s = spec.clone();
        s.lines.push(s.lines[0].clone());
        invoice_xml(&s).len()
    };
    let per_line = two_lines - invoice_xml(&spec).len();
    let count = (size - one_line) / per_line;
    spec.lines = (0..count)
        .map(|i| LineSpec {
            name: format!("Articol {i}"),
            quantity: 1,
            unit_price_cents: 100,
        })
        .collect();
    invoice_xml(&spec).into_bytes()
}

async fn token(sandbox: &Sandbox, http: &reqwest::Client) -> String {
    let app = sandbox.default_application();
    let code = sandbox
        .authorize(&AuthorizeRequest {
            client_id: app.client_id.clone(),
            redirect_uri: app.redirect_uris[0].clone(),
            serial: anaf_sandbox::DEFAULT_SERIAL.into(),
            state: None,
            token_content_type: "jwt".into(),
        })
        .unwrap()
        .code;
    let body: serde_json::Value = http
        .post(format!("{}/anaf-oauth2/v1/token", sandbox.base_url()))
        .basic_auth(&app.client_id, Some(&app.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", app.redirect_uris[0].as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Sends `bodies` at once and returns the peak heap above the level before.
async fn measure(sandbox: &Sandbox, http: &reqwest::Client, token: &str, bodies: Vec<Vec<u8>>) -> usize {
    let url = format!("{}/test/FCTEL/rest/upload?standard=UBL&cif={CIF}", sandbox.base_url());
    let measurement = counting_alloc::start_measuring();
    let sends = bodies.into_iter().map(|body| {
        let request = http.post(&url).bearer_auth(token).body(body);
        async move {
            let answer = request.send().await.unwrap().text().await.unwrap();
            assert!(answer.contains("index_incarcare"), "{answer}");
        }
    });
    let tasks: Vec<_> = sends.map(tokio::spawn).collect();
    for task in tasks {
        task.await.unwrap();
    }
    measurement.peak_growth()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sandbox = Sandbox::start(SandboxOptions::instant()).unwrap();
        let http = reqwest::Client::new();
        let token = token(&sandbox, &http).await;
        // Warm up: connection pool, signing key, buffers.
        measure(&sandbox, &http, &token, vec![many_lines(100_000, "WARM")]).await;

        let report = |what: &str, bytes: usize, peak: usize| {
            println!(
                "{what}: {bytes} bytes uploaded, peak heap {peak} bytes above the baseline ({:.2}x)",
                peak as f64 / bytes as f64
            );
        };
        let body = tiny_elements(SIZE);
        let bytes = body.len();
        report(
            "one upload of tiny elements",
            bytes,
            measure(&sandbox, &http, &token, vec![body]).await,
        );
        let bodies: Vec<Vec<u8>> = (0..4).map(|_| tiny_elements(SIZE)).collect();
        let bytes = bodies.iter().map(Vec::len).sum();
        report(
            "four uploads of tiny elements at once",
            bytes,
            measure(&sandbox, &http, &token, bodies).await,
        );
        let body = many_lines(SIZE, "BIG-1");
        let bytes = body.len();
        report(
            "one valid invoice with many lines",
            bytes,
            measure(&sandbox, &http, &token, vec![body]).await,
        );
    });
}
