//! ANAF's error document (the `nok` answer): parsed, then turned into an error that keeps
//! every one of ANAF's messages.
#![no_main]

use anaf::efactura::ErrorReport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Some(report)) = ErrorReport::parse(data) else {
        return;
    };
    let error = report.to_error();
    let kept = error.anaf_message().unwrap_or_default();
    for message in &report.messages {
        assert!(
            kept.contains(message.trim()),
            "ANAF's text is kept: {message:?} in {kept:?}"
        );
    }
});
