//! The `anaf-sandbox` binary starts, prints its base URL and credentials, and serves.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn binary_prints_its_address_and_credentials_and_answers() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_anaf-sandbox"))
        .args([
            "--port",
            "0",
            "--json",
            "--client-id",
            "my-client",
            "--client-secret",
            "my-secret",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).expect("JSON startup line");
    assert_eq!(info["application"]["client_id"], "my-client");
    assert_eq!(info["application"]["client_secret"], "my-secret");
    let base = info["base_url"].as_str().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/anaf-oauth2/v1/token"))
            .basic_auth("my-client", Some("my-secret"))
            .form(&[("grant_type", "authorization_code"), ("code", "unknown")])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    assert_eq!(status["error"], "invalid_grant", "the fixed credentials authenticate");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn binary_help_lists_its_options() {
    let output = Command::new(env!("CARGO_BIN_EXE_anaf-sandbox"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("--processing-delay"));
}
