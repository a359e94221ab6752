//! Peak heap while downloading a 10 MB ZIP, through the client and through raw reqwest.
//! Run: `cargo bench -p anaf --bench download_memory`.
//!
//! The ZIP is served by a minimal loopback server from one buffer prepared before measuring,
//! so the figure is the client's own memory, not the server's. A counting global allocator
//! tracks the peak of live heap bytes during the call.

use std::convert::Infallible;
use std::io::Write;

use anaf::{Application, Client, RetryPolicy, TokenSet};
use bytes::Bytes;

#[path = "../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const SIZE: usize = 10 * 1024 * 1024;

/// A 10 MB answer archive: `{N}.xml` stored uncompressed, plus its signature file.
fn ten_megabyte_zip() -> Bytes {
    let mut rng = fastrand::Rng::with_seed(7);
    let filler: String = (0..SIZE - 4096).map(|_| char::from(b'A' + rng.u8(..26))).collect();
    let document = format!("<?xml version=\"1.0\"?><Invoice><Note>{filler}</Note></Invoice>");
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    writer.start_file("5000000001.xml", stored).unwrap();
    writer.write_all(document.as_bytes()).unwrap();
    writer.start_file("semnatura_5000000001.xml", stored).unwrap();
    writer.write_all(b"<Signature/>").unwrap();
    Bytes::from(writer.finish().unwrap().into_inner())
}

async fn serve(zip: Bytes) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let zip = zip.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    let zip = zip.clone();
                    async move {
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/zip")
                                .header("content-length", zip.len())
                                .body(http_body_util::Full::new(zip))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

fn measure<T>(runtime: &tokio::runtime::Runtime, run: impl std::future::Future<Output = T>) -> (usize, T) {
    let (value, peak) = counting_alloc::peak_growth(|| runtime.block_on(run));
    (peak, value)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let zip = ten_megabyte_zip();
    let size = zip.len();
    let address = runtime.block_on(serve(zip));
    let base = format!("http://{address}");
    let client = Client::builder()
        .base_url(&base)
        .unwrap()
        .application(Application::new("id", "secret", "https://localhost:1/cb"))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let far = chrono::Utc::now() + chrono::Duration::days(1);
    runtime
        .block_on(client.oauth().set_tokens(TokenSet::new("t", "r", far, None)))
        .unwrap();
    let raw = reqwest::Client::new();
    // Warm both paths (connection pools, lazy statics) before measuring.
    runtime.block_on(async {
        client.efactura().download(1).await.unwrap();
        raw.get(format!("{base}/test/FCTEL/rest/descarcare?id=1"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    });
    println!("ZIP size: {size} bytes ({:.2} MiB)", size as f64 / 1048576.0);
    for round in 1..=3 {
        let (client_peak, archive) = measure(&runtime, async { client.efactura().download(1).await.unwrap() });
        assert_eq!(archive.zip_bytes().len(), size);
        drop(archive);
        let (raw_peak, body) = measure(&runtime, async {
            raw.get(format!("{base}/test/FCTEL/rest/descarcare?id=1"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        });
        assert_eq!(body.len(), size);
        drop(body);
        println!(
            "round {round}: client peak {client_peak} bytes = {:.3}x the ZIP; raw reqwest .bytes() peak {raw_peak} bytes = {:.3}x",
            client_peak as f64 / size as f64,
            raw_peak as f64 / size as f64
        );
    }
}
