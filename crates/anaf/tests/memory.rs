//! Hostile answers cost bounded memory: a ZIP bomb, a ZIP whose header lies about its size,
//! an endless body. A counting allocator measures the peak heap of each case (the tests in
//! this binary take turns, so they do not count each other).

mod common;

use std::io::Write;
use std::sync::Mutex;

use anaf::ErrorKind;
use anaf::efactura::Archive;
use common::*;

#[path = "../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

static TURN: Mutex<()> = Mutex::new(());

use counting_alloc::peak_growth;

const MB: usize = 1 << 20;

/// An answer archive: `{N}.xml` with `document_mb` megabytes of zeros (deflated to almost
/// nothing) and a small signature.
fn archive_of_zeros(document_mb: usize) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    writer.start_file("1.xml", options).unwrap();
    let zeros = vec![0u8; MB];
    for _ in 0..document_mb {
        writer.write_all(&zeros).unwrap();
    }
    writer.start_file("semnatura_1.xml", options).unwrap();
    writer.write_all(b"<Signature/>").unwrap();
    writer.finish().unwrap().into_inner()
}

#[test]
fn a_zip_bomb_is_refused_at_the_entry_limit() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    // 200 MB of zeros compress to about 200 KB.
    let bomb = archive_of_zeros(200);
    assert!(bomb.len() < 2 * MB, "{} bytes", bomb.len());
    let archive = Archive::from_bytes(bomb).unwrap();
    let (result, peak) = peak_growth(|| archive.document());
    let error = result.unwrap_err();
    assert_eq!((error.kind(), error.field()), (ErrorKind::InvalidInput, Some("zip")));
    assert!(error.to_string().contains("64 MB"), "{error}");
    assert!(peak < 100 * MB, "peak {} MB for a 64 MB limit", peak / MB);
    assert_eq!(archive.signature().unwrap().as_ref(), b"<Signature/>");
}

/// Sets the uncompressed size of every entry, in the local headers and the central
/// directory, to `claimed`: a ZIP that lies.
fn claim_size(zip: &mut [u8], claimed: u32) {
    let mut i = 0;
    while i + 30 <= zip.len() {
        match &zip[i..i + 4] {
            // Local file header: uncompressed size at offset 22.
            b"PK\x03\x04" => zip[i + 22..i + 26].copy_from_slice(&claimed.to_le_bytes()),
            // Central directory header: uncompressed size at offset 24.
            b"PK\x01\x02" => zip[i + 24..i + 28].copy_from_slice(&claimed.to_le_bytes()),
            _ => {}
        }
        i += 1;
    }
}

#[test]
fn a_size_claimed_by_a_zip_header_is_never_preallocated() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    // Sizes as plain 32-bit header fields (no ZIP64), rewritten to claim 60 MB.
    let mut plain = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    plain.start_file("7.xml", options).unwrap();
    plain.write_all(b"<Invoice>small</Invoice>").unwrap();
    plain.start_file("semnatura_7.xml", options).unwrap();
    plain.write_all(b"<Signature/>").unwrap();
    let mut zip = plain.finish().unwrap().into_inner();
    claim_size(&mut zip, 60 * MB as u32);
    let archive = Archive::from_bytes(zip).unwrap();
    let (result, peak) = peak_growth(|| archive.document());
    // Whatever the reader makes of the lie (the short entry, or a size error), it allocated
    // for what was there, not for the 60 MB claimed.
    let _ = result;
    assert!(
        peak < 4 * MB,
        "peak {} KB for a 24-byte entry claiming 60 MB",
        peak / 1024
    );
}
#[test]
fn an_endless_body_ends_at_the_response_limit() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let sandbox = sandbox();
    let client = builder(&sandbox).max_response_bytes(4 * MB).build_blocking().unwrap();
    client.oauth().exchange_code(&code(&sandbox)).unwrap();
    sandbox
        .inject_fault(anaf_sandbox::FaultSpec {
            endpoint: "efactura.download".into(),
            fault: anaf_sandbox::Fault::EndlessBody,
            times: Some(1),
        })
        .unwrap();
    let (result, peak) = peak_growth(|| client.efactura().download(3_001_000_001));
    let error = result.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnexpectedResponse, "{error}");
    assert!(error.to_string().contains("larger than this client accepts"), "{error}");
    assert!(peak < 32 * MB, "peak {} MB for a 4 MB limit", peak / MB);
}
