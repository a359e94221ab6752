//! The README's curl walkthrough works as written, against the binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Every ```bash block after the "## Walkthrough with curl" heading.
fn walkthrough() -> String {
    let readme = include_str!("../README.md");
    let section = readme
        .split("## Walkthrough with curl")
        .nth(1)
        .expect("the walkthrough section");
    let mut script = String::new();
    let mut blocks = section.split("```bash\n").skip(1);
    for block in blocks.by_ref() {
        script.push_str(block.split("```").next().unwrap());
    }
    script
}

#[test]
fn the_curl_walkthrough_runs_as_written() {
    let mut sandbox = Command::new(env!("CARGO_BIN_EXE_anaf-sandbox"))
        .args([
            "--port",
            "0",
            "--json",
            "--client-id",
            "demo-client",
            "--client-secret",
            "demo-secret",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sandbox.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let dir = std::env::temp_dir().join(format!("anaf-sandbox-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &walkthrough()])
        .env("SANDBOX", info["base_url"].as_str().unwrap())
        .current_dir(&dir)
        .output()
        .expect("bash runs");
    sandbox.kill().unwrap();
    sandbox.wait().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "Hello, sandbox",
        "ExecutionStatus=\"0\"",
        "stare=\"ok\"",
        "\"tip\":\"FACTURA TRIMISA\"",
        "PK",
        "{\"stare\":\"ok\"",
        "%PDF-",
        "{\"access_token\":",
        "\"upload_id\":",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
