//! The accept loop. It is hand-rolled around hyper (instead of `axum::serve`) because the
//! sandbox needs what only the owner of the socket can do:
//!
//! - kill a connection mid-request (a reset, or "accept the upload, then drop the
//!   connection"), asked for by a handler through the [`KillConnection`] response extension;
//! - read the rest of a request body the handler refused without reading, before answering,
//!   so a client that sends its whole body before reading (Node's `fetch`) gets the answer
//!   instead of a broken pipe;
//! - run each request that may change something to completion even when its client goes away
//!   (ANAF goes on processing an upload after the client gave up): the router runs in a task
//!   of its own for every method but GET and HEAD;
//! - close connections that send no request (`header_read_timeout`).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Response, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tower::ServiceExt;

/// The most of a refused request body the server reads (and throws away) before answering:
/// ANAF's largest body (the signature check's two 10 MB files) and a margin. A larger body
/// gets its answer and the connection is closed.
pub(crate) const DRAIN_LIMIT: usize = 24 * 1024 * 1024;
/// How long reading a refused body may take before the answer goes out anyway.
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// A response extension: reset the TCP connection (RST) instead of sending the response.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KillConnection;

/// A request body that, when dropped before its end, hands what is left back to the
/// connection task, which reads it before answering.
struct Tracked {
    inner: Option<Incoming>,
    polled: bool,
    finished: bool,
    back: Option<oneshot::Sender<Leftover>>,
}

struct Leftover {
    body: Incoming,
    /// Whether anyone asked for the body (with `Expect: 100-continue`, the client has not sent
    /// an unread body yet).
    polled: bool,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        self.polled = true;
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map(|b| b.size_hint()).unwrap_or_default()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let (Some(body), Some(back)) = (self.inner.take(), self.back.take())
            && !body.is_end_stream()
        {
            let _ = back.send(Leftover {
                body,
                polled: self.polled,
            });
        }
    }
}

/// Reads and discards `body`, at most [`DRAIN_LIMIT`] bytes for at most [`DRAIN_TIME`];
/// `true` when it reached its end.
async fn drain(mut body: Incoming) -> bool {
    let read = async {
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                total = total.saturating_add(data.len());
                if total > DRAIN_LIMIT {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read).await.unwrap_or(false)
}

/// Connection-level settings taken from the sandbox options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionOptions {
    pub header_read_timeout: Duration,
}

pub(crate) async fn serve(listener: TcpListener, router: Router, options: ConnectionOptions) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        tokio::spawn(async move {
            // A second handle on the same socket, so it can be set to reset on close after the
            // first handle has moved into hyper.
            let Ok(std_stream) = stream.into_std() else { return };
            let Ok(linger_handle) = std_stream.try_clone() else {
                return;
            };
            let Ok(stream) = tokio::net::TcpStream::from_std(std_stream) else {
                return;
            };

            let kill = Arc::new(Notify::new());
            let kill_from_request = kill.clone();
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let router = router.clone();
                let kill = kill_from_request.clone();
                async move { Ok::<_, Infallible>(handle(router, request, &kill).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout((!options.header_read_timeout.is_zero()).then_some(options.header_read_timeout))
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = kill.notified() => {
                    let _ = socket2::SockRef::from(&linger_handle).set_linger(Some(Duration::ZERO));
                }
            }
        });
    }
}

/// One request: routed (in its own task unless it only reads, so it completes even if the
/// client leaves), then the unread rest of its body is drained before the answer goes out.
async fn handle(router: Router, request: hyper::Request<Incoming>, kill: &Notify) -> Response<Body> {
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let detached = !matches!(*request.method(), Method::GET | Method::HEAD);
    let (back, mut leftover) = oneshot::channel();
    let request = request.map(|body| {
        Body::new(Tracked {
            inner: Some(body),
            polled: false,
            finished: false,
            back: Some(back),
        })
    });
    let route = async move { router.oneshot(request).await.unwrap_or_else(|e| match e {}) };
    // A request that may change something (an upload, a token, an admin call) runs in a task
    // of its own, which goes on if the client leaves. A GET only reads, so it runs here and
    // stops with its connection (cheaper: no task, no cross-thread wake-up).
    let mut response = if detached {
        match tokio::spawn(route).await {
            Ok(response) => response,
            Err(_) => {
                let mut response = Response::new(Body::from("Internal Server Error"));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
            }
        }
    } else {
        route.await
    };
    if response.extensions().get::<KillConnection>().is_some() {
        kill.notify_one();
        return std::future::pending().await;
    }
    if let Ok(Leftover { body, polled }) = leftover.try_recv() {
        // A client waiting for `100 Continue` has not sent the body: answer and close.
        let complete = (polled || !expects_continue) && drain(body).await;
        if !complete {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}
