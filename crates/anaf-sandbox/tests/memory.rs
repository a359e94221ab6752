//! What one upload costs the sandbox in heap. A counting global allocator (this test binary's
//! own) records the peak of live heap bytes while a 10 MB upload is received, parsed, checked
//! and stored. The document is made of tiny elements, the worst case for a tree: before the
//! compact parse it took about 58 times its size.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
        let baseline = LIVE.load(Ordering::Relaxed);
        PEAK.store(baseline, Ordering::Relaxed);
        let answer = h.post_text(&token, &path, body).await;
        let peak = PEAK.load(Ordering::Relaxed) - baseline;
        assert!(attr(&answer, "index_incarcare").is_some(), "{answer}");
        let ratio = peak as f64 / size as f64;
        println!("upload of {size} bytes of tiny elements: peak heap {peak} bytes above the baseline ({ratio:.2}x)");
        // The stored body itself is 1x; the parse, the request buffer and the client's own
        // buffers fit in the rest.
        assert!(ratio < 5.0, "peak {peak} bytes is {ratio:.2}x the {size}-byte upload");
    });
}
