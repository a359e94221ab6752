//! How the sandbox treats connections: a refused upload is read before the answer (so a client
//! that sends its whole body first, as Node's `fetch` does, gets the status and not EPIPE),
//! an upload whose client gave up is still stored, and silent connections are closed.

mod common;

use std::time::Duration;

use anaf_sandbox::{Fault, FaultSpec};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a chunked POST the way a streaming client does: the whole body first, the answer
/// only then. Returns the status line, or the I/O error that broke the exchange.
async fn chunked_post(base_url: &str, path: &str, token: Option<&str>, body_len: usize) -> std::io::Result<String> {
    let address = base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n"
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < body_len {
        let n = chunk.len().min(body_len - sent);
        stream.write_all(format!("{n:x}\r\n").as_bytes()).await?;
        stream.write_all(&chunk[..n]).await?;
        stream.write_all(b"\r\n").await?;
        sent += n;
    }
    stream.write_all(b"0\r\n\r\n").await?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_refused_streamed_upload_gets_its_status_not_a_broken_pipe() {
    let h = start();
    let body = 4 * 1024 * 1024;
    let upload = format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}");

    let no_token = chunked_post(h.sandbox.base_url(), &upload, None, body).await;
    assert_eq!(
        no_token.expect("the whole exchange works").as_str(),
        "HTTP/1.1 401 Unauthorized"
    );

    let unknown = chunked_post(h.sandbox.base_url(), "/test/FCTEL/rest/nothing", None, body).await;
    assert_eq!(
        unknown.expect("the whole exchange works").as_str(),
        "HTTP/1.1 404 Not Found"
    );

    let token = h.token().await;
    h.sandbox
        .inject_fault(FaultSpec {
            endpoint: "efactura.upload".into(),
            fault: Fault::Status {
                status: 503,
                body: None,
            },
            times: Some(1),
        })
        .unwrap();
    let faulted = chunked_post(h.sandbox.base_url(), &upload, Some(&token), body).await;
    assert_eq!(
        faulted.expect("the whole exchange works").as_str(),
        "HTTP/1.1 503 Service Unavailable"
    );
    let wrong_method = chunked_post(h.sandbox.base_url(), "/test/FCTEL/rest/stareMesaj", Some(&token), body).await;
    assert_eq!(
        wrong_method.expect("the whole exchange works").as_str(),
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(
        h.get(&token, "/TestOauth/jaxrs/hello?name=x").await.status(),
        200,
        "still serving"
    );
}

#[tokio::test]
async fn an_upload_whose_client_gave_up_during_a_latency_fault_is_still_stored_and_processed() {
    let h = start();
    let token = h.token().await;
    h.sandbox
        .inject_fault(FaultSpec {
            endpoint: "efactura.upload".into(),
            fault: Fault::Latency { ms: 1500 },
            times: Some(1),
        })
        .unwrap();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let result = impatient
        .post(h.url(&format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}")))
        .bearer_auth(&token)
        .body(invoice("GAVE-UP-1", CIF, PARTNER))
        .send()
        .await;
    assert!(result.expect_err("the client gives up first").is_timeout());
    drop(impatient);
    // ANAF goes on after the client left; wait for the stored upload (bounded, never timed).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let record = loop {
        if let Some(record) = h.sandbox.uploads(Some(CIF)).into_iter().next() {
            break record;
        }
        assert!(std::time::Instant::now() < deadline, "the upload was never stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(record.document_number.as_deref(), Some("GAVE-UP-1"));
    assert_eq!(record.state, "ok");
    let status = h.status(&token, record.upload_id).await;
    assert_eq!(attr(&status, "stare").as_deref(), Some("ok"));
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let h = start_with(anaf_sandbox::SandboxOptions::instant().header_read_timeout(Duration::from_millis(200)));
    let address = h.sandbox.base_url().trim_start_matches("http://").to_owned();
    let mut idle = TcpStream::connect(&address).await.unwrap();
    // The sandbox closes it (possibly after a 408); the generous bound only stops a hang.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 1024];
        loop {
            match idle.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection was never closed");

    // A kept-alive connection idle between requests is closed the same way.
    let mut kept = TcpStream::connect(&address).await.unwrap();
    kept.write_all(format!("GET /_sandbox/clock HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match kept.read(&mut buf).await {
                Ok(0) | Err(_) => return answer,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the idle keep-alive connection was never closed");
    assert!(String::from_utf8_lossy(&closed).starts_with("HTTP/1.1 200 OK"));
}
