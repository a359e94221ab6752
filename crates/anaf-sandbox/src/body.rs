//! Reading request bodies with ANAF's size limits. The limit is checked by the handler (so
//! the answer is ANAF's own text, not a generic 413); the reader keeps at most `keep + 1`
//! bytes and drains the rest, so a huge body costs time but not memory.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};

pub(crate) struct CappedBody {
    pub bytes: Bytes,
    pub total: usize,
}

impl CappedBody {
    pub fn too_large(&self, limit: usize) -> bool {
        self.total > limit
    }
}

pub(crate) async fn read_capped(body: Body, keep: usize) -> Result<CappedBody, axum::Error> {
    let mut body = body;
    // One allocation of the announced size (capped), instead of doubling while reading: a
    // 10 MB upload then costs 10 MB, not up to twice that while the buffer regrows.
    let announced = usize::try_from(hyper::body::Body::size_hint(&body).lower()).unwrap_or(usize::MAX);
    let mut kept = BytesMut::with_capacity(announced.min(keep + 1));
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len());
            let room = (keep + 1).saturating_sub(kept.len());
            kept.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok(CappedBody {
        bytes: kept.freeze(),
        total,
    })
}

/// Reads up to `cap` bytes of `body` now and gives back a body that replays them, followed by
/// whatever was not read yet.
pub(crate) async fn buffered(body: Body, cap: usize) -> Body {
    let mut rest = body;
    let mut chunks = VecDeque::new();
    let mut total = 0usize;
    while total <= cap {
        match rest.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    total += data.len();
                    chunks.push_back(data);
                }
            }
            // The error surfaces again when the handler reads the rest.
            Some(Err(_)) => break,
        }
    }
    Body::new(Replay { chunks, rest })
}

struct Replay {
    chunks: VecDeque<Bytes>,
    rest: Body,
}

impl hyper::body::Body for Replay {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let buffered: u64 = self.chunks.iter().map(|c| c.len() as u64).sum();
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(buffered + rest.lower());
        if let Some(upper) = rest.upper() {
            hint.set_upper(buffered + upper);
        }
        hint
    }
}

pub const MB: usize = 1024 * 1024;
