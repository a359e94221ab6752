//! ANAF's web firewall page, told apart from an answer in any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(error) = anaf::fuzzing::firewall_page(data) {
        assert_eq!(error.kind(), anaf::ErrorKind::WafRejected);
        assert!(String::from_utf8_lossy(data).contains("The requested URL was rejected"));
    }
});
