//! An invoice's main fields (UBL Invoice, CreditNote, CII) from any bytes.
#![no_main]

use anaf::efactura::InvoiceSummary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = InvoiceSummary::parse(data);
});
