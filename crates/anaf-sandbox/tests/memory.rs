//! What one upload costs the sandbox in heap. A counting global allocator (this test binary's
//! own) records the peak of live heap bytes while a 10 MB upload is received, parsed, checked
//! and stored. The document is made of tiny elements, the worst case for a tree: before the
//! compact parse it took about 58 times its size.

mod common;

use common::*;

#[path = "../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

/// A well-formed UBL invoice root holding `<a/>` elements up to `size` bytes.
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

// One test in this binary, so no other test allocates while this one measures.
#[test]
fn a_10_mb_upload_of_tiny_elements_costs_a_small_multiple_of_its_size() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let h = start();
        let token = h.token().await;
        let path = format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}");
        // Warm up every lazy part of both sides (connection pool, key, buffers).
        h.upload(&token, CIF, invoice("WARM-1", CIF, PARTNER)).await;

        let body = tiny_elements(10_000_000);
        let size = body.len();
        let measurement = counting_alloc::start_measuring();
        let answer = h.post_text(&token, &path, body).await;
        let peak = measurement.peak_growth();
        assert!(attr(&answer, "index_incarcare").is_some(), "{answer}");
        let ratio = peak as f64 / size as f64;
        println!("upload of {size} bytes of tiny elements: peak heap {peak} bytes above the baseline ({ratio:.2}x)");
        // The stored body itself is 1x; the parse, the request buffer and the client's own
        // buffers fit in the rest.
        assert!(ratio < 5.0, "peak {peak} bytes is {ratio:.2}x the {size}-byte upload");
    });
}
