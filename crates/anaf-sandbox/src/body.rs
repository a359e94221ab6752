//! Reading request bodies with ANAF's size limits. The limit is checked by the handler (so
//! the answer is ANAF's own text, not a generic 413); the reader keeps at most `keep + 1`
//! bytes and drains the rest, so a huge body costs time but not memory.

use axum::body::{Body, Bytes};
use bytes::BytesMut;
use http_body_util::BodyExt;

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
    let mut kept = BytesMut::new();
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

pub const MB: usize = 1024 * 1024;
