//! Any bytes as a downloaded archive: open it, decompress both entries, read the error report
//! and the invoice's fields. The archive keeps the bytes exactly; no entry is read past the cap.
#![no_main]

use anaf::efactura::{Archive, MAX_ENTRY_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(archive) = Archive::from_bytes(data.to_vec()) else {
        return;
    };
    assert_eq!(archive.zip_bytes().as_ref(), data, "the archive is kept byte-exact");
    for entry in [archive.document(), archive.signature()].into_iter().flatten() {
        assert!(entry.len() as u64 <= MAX_ENTRY_BYTES);
    }
    let _ = archive.error_report();
    let _ = archive.invoice_summary();
});
