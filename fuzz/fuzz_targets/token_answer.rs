//! The token endpoint's answer (JSON), for any status and bytes: tokens or an OAuth error, and
//! no token ever shown by `Debug` or `Display` of what the client made of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: (u16, &[u8])| {
    let (status, body) = input;
    let status = match status % 4 {
        0 => 200,
        1 => 400,
        2 => 401,
        _ => 100 + status % 500,
    };
    let answer: Option<Value> = serde_json::from_slice(body).ok();
    // Long enough that finding one inside the client's own wording is not a coincidence.
    let secrets: Vec<&str> = ["access_token", "refresh_token"]
        .iter()
        .filter_map(|key| answer.as_ref()?.get(key)?.as_str())
        .filter(|secret| secret.len() >= 24)
        .collect();
    let shown = match anaf::fuzzing::token_answer(status, body) {
        Ok(tokens) => {
            let access = answer.as_ref().and_then(|a| a.get("access_token")?.as_str());
            assert_eq!(Some(tokens.access_token.expose()), access);
            format!("{tokens:?}")
        }
        Err(error) => format!("{error} {error:?}"),
    };
    if status == 200 {
        for secret in secrets {
            assert!(!shown.contains(secret), "a token shown: {shown}");
        }
    }
});
