//! The accept loop. It is hand-rolled around hyper (instead of `axum::serve`) for one reason:
//! fault injection must be able to kill a connection mid-request (a reset, or "accept the
//! upload, then drop the connection"), and only the task that owns the socket can do that.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

/// Lets a request handler kill its own connection. Inserted into every request's extensions.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionControl {
    kill: Arc<Notify>,
}

impl ConnectionControl {
    /// Resets the TCP connection (RST, no answer). The caller should then never complete.
    pub fn reset(&self) {
        self.kill.notify_one();
    }
}

pub(crate) async fn serve(listener: TcpListener, router: Router) {
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

            let control = ConnectionControl::default();
            let per_request = control.clone();
            let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(per_request.clone());
                let router = router.clone();
                async move { Ok::<_, Infallible>(router.oneshot(request).await.unwrap_or_else(|e| match e {})) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = control.kill.notified() => {
                    let _ = socket2::SockRef::from(&linger_handle).set_linger(Some(Duration::ZERO));
                }
            }
        });
    }
}
