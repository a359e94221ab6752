//! The `anaf` binary run against an in-process sandbox, over real HTTP: every command, its
//! `--json` output parsed, its exit code checked, and the login driven through the sandbox's
//! authorization page as a browser would.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anaf_sandbox::samples::{InvoiceSpec, TransportSpec, invoice_xml, transport_notification_xml};
use anaf_sandbox::{AppSpec, Fault, FaultSpec, Sandbox, SandboxOptions, Service};
use serde_json::Value;

const SELLER: &str = "8000000000";
const BUYER: &str = "12345674";

/// A sandbox, a config directory of our own, and one profile (`test`) on the sandbox.
struct World {
    sandbox: Sandbox,
    config: tempfile::TempDir,
    secret: String,
}

impl World {
    fn new(options: SandboxOptions) -> World {
        let sandbox = Sandbox::start(options).expect("sandbox");
        let port = free_port();
        let app = sandbox
            .register_app(AppSpec {
                name: "CLI tests".into(),
                redirect_uris: vec![format!("https://localhost:{port}/anaf/callback")],
                services: Service::ALL.to_vec(),
            })
            .expect("app");
        let world = World {
            sandbox,
            config: tempfile::tempdir().expect("tempdir"),
            secret: app.client_secret.clone(),
        };
        let added = world.run(&[
            "profile",
            "add",
            "test",
            "--client-id",
            &app.client_id,
            "--redirect-uri",
            &app.redirect_uris[0],
            "--base-url",
            world.sandbox.base_url(),
        ]);
        assert_eq!(code(&added), 0, "{}", text(&added));
        world
    }

    fn instant() -> World {
        World::new(SandboxOptions::instant())
    }

    fn command(&self) -> Command {
        self.command_of(env!("CARGO_BIN_EXE_anaf"))
    }

    /// `program` with this world's environment (its config directory and secret).
    fn command_of(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("ANAF_CONFIG_DIR", self.config.path())
            .env("ANAF_CLIENT_SECRET", &self.secret)
            .env_remove("ANAF_PROFILE")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run anaf")
    }

    /// Runs with `--json`: the exit code and the parsed document.
    fn json(&self, args: &[&str]) -> (i32, Value) {
        let output = self.command().arg("--json").args(args).output().expect("run anaf");
        let document =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&output)));
        (code(&output), document)
    }

    fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.config.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    /// `anaf --json efactura upload FILE --cif SELLER [--wait]`.
    fn upload(&self, file: &std::path::Path, wait: bool) -> (i32, Value) {
        let file = file.to_str().expect("UTF-8 path");
        let mut args = vec!["efactura", "upload", file, "--cif", SELLER];
        if wait {
            args.push("--wait");
        }
        self.json(&args)
    }

    fn invoice(&self, number: &str) -> PathBuf {
        self.file(
            &format!("{number}.xml"),
            invoice_xml(&InvoiceSpec::new(number, SELLER, BUYER)),
        )
    }

    /// `anaf login --no-browser`, the test playing the browser; the address it lands on is
    /// pasted back (`paste`) or followed to the login's HTTPS listener.
    fn login(&self, paste: bool) -> Output {
        let mut child = self
            .command()
            .args(["login", "--no-browser", "--timeout", "30"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn login");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut url = String::new();
        let mut seen = String::new();
        while url.is_empty() {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).expect("read") > 0,
                "no login address in: {seen}"
            );
            seen.push_str(&line);
            if line.trim_start().starts_with("http") {
                url = line.trim().to_owned();
            }
        }
        let landed = block_on(approve_in_browser(self.sandbox.base_url(), &url));
        if paste {
            let mut stdin = child.stdin.take().expect("stdin");
            writeln!(stdin, "{landed}").expect("paste");
        } else {
            let page = block_on(follow_to_listener(&landed));
            assert!(page.contains("Autentificare reusita"), "{page}");
        }
        let mut output = child.wait_with_output().expect("login ends");
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        output.stderr = format!("{seen}{rest}").into_bytes();
        output
    }

    fn logged_in(self) -> World {
        let output = self.login(true);
        assert_eq!(code(&output), 0, "{}", text(&output));
        self
    }
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// The user at ANAF's page: picks the certificate (the sandbox's identity) and approves; the
/// answer is the address the browser is sent to.
async fn approve_in_browser(base: &str, authorization_url: &str) -> String {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser");
    let page = browser
        .get(authorization_url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("page text");
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.find(&marker).map(|i| i + marker.len()).expect("field");
        page[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .replace("&amp;", "&")
    };
    let form = [
        ("client_id", field("client_id")),
        ("redirect_uri", field("redirect_uri")),
        ("state", field("state")),
        ("token_content_type", field("token_content_type")),
        ("serial", anaf_sandbox::DEFAULT_SERIAL.to_owned()),
        ("action", "approve".to_owned()),
    ];
    let answer = browser
        .post(format!("{base}/anaf-oauth2/v1/authorize"))
        .form(&form)
        .send()
        .await
        .expect("approve");
    assert_eq!(answer.status(), 302);
    answer.headers()["location"].to_str().expect("location").to_owned()
}

/// The browser following the redirect to the login's listener (a self-signed certificate,
/// which a browser would warn about).
async fn follow_to_listener(landed: &str) -> String {
    let browser = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("browser");
    browser
        .get(landed)
        .send()
        .await
        .expect("callback")
        .text()
        .await
        .expect("page")
}

// --- the command line itself --------------------------------------------------------------

#[test]
fn version_help_and_usage_errors() {
    let world = World::instant();
    let version = world.run(&["--version"]);
    assert_eq!(code(&version), 0);
    assert!(stdout(&version).starts_with(concat!("anaf ", env!("CARGO_PKG_VERSION"))));
    let help = world.run(&["efactura", "upload", "--help"]);
    assert_eq!(code(&help), 0);
    assert!(stdout(&help).contains("Examples:") && stdout(&help).contains("--wait"));
    let top = world.run(&["--help"]);
    assert!(stdout(&top).contains("Exit codes:") && stdout(&top).contains("anaf demo"));
    // Usage errors: 2, with clap's explanation.
    let unknown = world.run(&["efactura", "upload", "--nope"]);
    assert_eq!(code(&unknown), 2, "{}", text(&unknown));
    let missing = world.run(&["efactura", "status"]);
    assert_eq!(code(&missing), 2);
}

#[test]
fn profiles_are_added_listed_selected_and_removed() {
    let world = World::instant();
    let (exit, listed) = world.json(&["profile", "list"]);
    assert_eq!(exit, 0);
    assert_eq!(listed["test"]["environment"], "test");
    assert_eq!(listed["test"]["secret_env"], "ANAF_CLIENT_SECRET");
    let added = world.run(&[
        "profile",
        "add",
        "prod",
        "--environment",
        "prod",
        "--client-id",
        "x",
        "--redirect-uri",
        "https://localhost:1/cb",
    ]);
    assert_eq!(code(&added), 0, "{}", text(&added));
    // Two profiles: a command must say which.
    let (exit, error) = world.json(&["hello"]);
    assert_eq!(exit, 2);
    assert_eq!(error["error"]["kind"], "usage");
    assert!(
        error["error"]["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("--profile")
    );
    let table = world.run(&["profile", "list"]);
    assert!(stdout(&table).contains("PROFILE") && stdout(&table).contains("prod"));
    let bad = world.run(&["profile", "add", "no spaces", "--client-id", "x", "--redirect-uri", "y"]);
    assert_eq!(code(&bad), 2);
    assert_eq!(code(&world.run(&["profile", "remove", "prod"])), 0);
    assert_eq!(code(&world.run(&["profile", "remove", "prod"])), 2);
    // The secret is never written into the profiles file.
    let file = std::fs::read_to_string(world.config.path().join("profiles.toml")).expect("profiles");
    assert!(!file.contains(&world.secret));
}

// --- login and tokens ----------------------------------------------------------------------

#[test]
fn login_by_pasting_the_address_then_tokens_hello_refresh_logout() {
    let world = World::instant();
    // Not logged in yet: an auth problem (4) for scripts.
    let (exit, status) = world.json(&["token", "status"]);
    assert_eq!((exit, status["logged_in"].as_bool()), (4, Some(false)));
    let (exit, error) = world.json(&["hello"]);
    assert_eq!(exit, 4, "{error}");

    let output = world.login(true);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(stdout(&output).contains("logged in as profile `test`"));
    let tokens = world.config.path().join("tokens").join("test.json");
    assert!(tokens.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tokens).expect("tokens").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Nothing secret on the terminal.
    let saved = std::fs::read_to_string(&tokens).expect("tokens");
    let saved: Value = serde_json::from_str(&saved).expect("token JSON");
    let access = saved["access_token"].as_str().expect("access token");
    assert!(!text(&output).contains(access));

    let (exit, status) = world.json(&["token", "status"]);
    assert_eq!(exit, 0);
    assert_eq!(status["logged_in"], true);
    let hello = world.run(&["hello", "cli"]);
    assert_eq!(code(&hello), 0, "{}", text(&hello));
    assert!(stdout(&hello).starts_with("Hello, cli"));
    // --verbose: the library's logs on stderr, still without the token.
    let verbose = world.run(&["--verbose", "hello"]);
    assert!(stderr(&verbose).contains("anaf::"), "{}", text(&verbose));
    assert!(!text(&verbose).contains(access));

    let (exit, refreshed) = world.json(&["token", "refresh"]);
    assert_eq!(exit, 0, "{refreshed}");
    assert!(refreshed["expires_at"].is_string());
    let rotated = std::fs::read_to_string(&tokens).expect("tokens");
    assert!(!rotated.contains(access), "the rotated pair was saved");

    assert_eq!(code(&world.run(&["token", "logout"])), 0);
    assert!(!tokens.exists());
    assert_eq!(code(&world.run(&["token", "status"])), 4);
}

#[test]
fn a_login_kept_in_a_state_database_serves_every_profile_that_names_it() {
    let world = World::instant();
    let (exit, listed) = world.json(&["profile", "list"]);
    assert_eq!(exit, 0);
    let app = &listed["test"];
    let database = world.config.path().join("shared.db");
    let database = database.to_str().expect("UTF-8 path");
    let add = |name: &str| {
        let added = world.run(&[
            "profile",
            "add",
            name,
            "--client-id",
            app["client_id"].as_str().expect("client id"),
            "--redirect-uri",
            app["redirect_uri"].as_str().expect("redirect URI"),
            "--base-url",
            world.sandbox.base_url(),
            "--database",
            database,
            "--database-tokens",
            "company-42",
        ]);
        assert_eq!(code(&added), 0, "{}", text(&added));
    };
    assert_eq!(code(&world.run(&["profile", "remove", "test"])), 0);
    add("office");
    let output = world.login(true);
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(
        stdout(&output).contains("the state database (login `company-42`)"),
        "{}",
        text(&output)
    );
    assert!(!world.config.path().join("tokens").join("office.json").exists());
    // Another profile (another machine, with a postgres:// database) on the same login.
    add("warehouse");
    let hello = world.run(&["--profile", "warehouse", "hello", "depozit"]);
    assert_eq!(code(&hello), 0, "{}", text(&hello));
    assert!(stdout(&hello).starts_with("Hello, depozit"));
    let table = world.run(&["profile", "list"]);
    assert!(stdout(&table).contains("database: company-42"), "{}", text(&table));
    assert_eq!(code(&world.run(&["--profile", "warehouse", "token", "logout"])), 0);
    assert_eq!(
        code(&world.run(&["--profile", "office", "hello"])),
        4,
        "logged out for both"
    );
}

#[test]
fn login_through_the_loopback_listener_and_revoke() {
    let world = World::instant();
    let output = world.login(false);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let (exit, revoked) = world.json(&["token", "revoke"]);
    assert_eq!(exit, 0, "{revoked}");
    assert_eq!(revoked["revocation"], "confirmed");
    assert_eq!(code(&world.run(&["hello"])), 4);
}

#[test]
fn the_secret_comes_from_the_environment_and_is_asked_for_only_when_needed() {
    let world = World::instant().logged_in();
    // Fresh tokens: no secret needed for an API call.
    let hello = world
        .command()
        .env_remove("ANAF_CLIENT_SECRET")
        .arg("hello")
        .output()
        .expect("run");
    assert_eq!(code(&hello), 0, "{}", text(&hello));
    // A refresh authenticates the application: without a terminal to ask on, a usage error
    // naming the variable.
    let refresh = world
        .command()
        .env_remove("ANAF_CLIENT_SECRET")
        .args(["token", "refresh"])
        .output()
        .expect("run");
    assert_eq!(code(&refresh), 2);
    assert!(stderr(&refresh).contains("ANAF_CLIENT_SECRET"), "{}", text(&refresh));
}

// --- CIF ---------------------------------------------------------------------------------

#[test]
fn cif_check_and_lookup() {
    let world = World::instant();
    let (exit, checked) = world.json(&["cif", "check", "RO12345674", "12345678"]);
    assert_eq!(exit, 2, "one invalid CIF");
    assert_eq!(checked[0]["valid"], true);
    assert_eq!(checked[0]["cif"], "12345674");
    assert_eq!(checked[1]["valid"], false);
    assert_eq!(checked[1]["error"]["kind"], "invalid_input");
    let good = world.run(&["cif", "check", "RO12345674"]);
    assert_eq!(code(&good), 0);
    assert!(stdout(&good).contains("valid"));

    let (exit, lookup) = world.json(&["cif", "lookup", BUYER]);
    assert_eq!(exit, 0, "{lookup}");
    assert_eq!(lookup["found"][0]["cif"], BUYER);
    assert!(
        lookup["found"][0]["name"]
            .as_str()
            .unwrap_or_default()
            .contains("SANDBOX")
    );
    let human = world.run(&["cif", "lookup", BUYER, "--date", "2026-01-31"]);
    assert_eq!(code(&human), 0, "{}", text(&human));
    assert!(stdout(&human).contains("VAT payer"));
    assert_eq!(code(&world.run(&["cif", "lookup", BUYER, "--date", "31.01.2026"])), 2);
}

// --- e-Factura ---------------------------------------------------------------------------

#[test]
fn upload_wait_status_download_extract_pdf_open_verify() {
    let world = World::instant().logged_in();
    let invoice = world.invoice("CLI-1");
    let (exit, sent) = world.upload(&invoice, true);
    assert_eq!(exit, 0, "{sent}");
    let upload = &sent["uploads"][0];
    assert_eq!(upload["state"]["state"], "ok");
    let upload_id = upload["upload_id"].as_u64().expect("upload id");
    let download_id = upload["state"]["download_id"].as_u64().expect("download id");
    assert_eq!(world.sandbox.uploads(Some(SELLER)).len(), 1, "sent once");

    let (exit, states) = world.json(&["efactura", "status", &upload_id.to_string()]);
    assert_eq!(exit, 0);
    assert_eq!(states["statuses"][0]["state"]["download_id"], download_id);
    let human = world.run(&["efactura", "status", &upload_id.to_string()]);
    assert!(stdout(&human).contains("ok (download id"), "{}", text(&human));

    let out = world.config.path().join("answers");
    let (exit, downloaded) = world.json(&[
        "efactura",
        "download",
        &download_id.to_string(),
        "--out",
        out.to_str().unwrap(),
        "--extract",
        "--pdf",
    ]);
    assert_eq!(exit, 0, "{downloaded}");
    let zip = out.join(format!("{download_id}.zip"));
    let pdf = out.join(format!("{download_id}.pdf"));
    assert!(std::fs::read(&pdf).expect("pdf").starts_with(b"%PDF"));
    let document = out.join(download_id.to_string()).join(format!("{upload_id}.xml"));
    let signature = out
        .join(download_id.to_string())
        .join(format!("semnatura_{upload_id}.xml"));
    assert_eq!(
        std::fs::read(&document).expect("document"),
        invoice_xml(&InvoiceSpec::new("CLI-1", SELLER, BUYER)).into_bytes(),
        "the invoice comes back byte for byte"
    );

    let (exit, verdict) = world.json(&[
        "efactura",
        "verify",
        document.to_str().unwrap(),
        signature.to_str().unwrap(),
    ]);
    assert_eq!((exit, verdict["valid"].as_bool()), (0, Some(true)));
    let (exit, opened) = world.json(&["efactura", "open", zip.to_str().unwrap(), "--verify"]);
    assert_eq!(exit, 0, "{opened}");
    assert_eq!(opened["upload_id"], upload_id);
    assert_eq!(opened["signature_check"]["valid"], true);
    assert!(opened["error_report"].is_null());
    assert_eq!(opened["invoice"]["number"], "CLI-1");
    assert_eq!(opened["invoice"]["seller"]["vat_id"], format!("RO{SELLER}"));
    assert_eq!(opened["invoice"]["payable"], "238.00");
    let human = world.run(&["efactura", "open", zip.to_str().unwrap()]);
    assert!(stdout(&human).contains("accepted and signed"), "{}", text(&human));
    assert!(
        stdout(&human).contains("238.00 RON") && stdout(&human).contains("CLI-1"),
        "{}",
        text(&human)
    );
    let human = world.run(&[
        "efactura",
        "download",
        &download_id.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&human), 0, "{}", text(&human));
    assert!(
        stdout(&human).contains(&format!("{download_id}: invoice {upload_id}.xml")),
        "{}",
        text(&human)
    );
}

#[test]
fn upload_flags_reach_anaf_and_several_files_are_sent_in_order() {
    let world = World::instant().logged_in();
    let (first, second) = (world.invoice("CLI-F1"), world.invoice("CLI-F2"));
    let (exit, sent) = world.json(&[
        "efactura",
        "upload",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        "--cif",
        SELLER,
        "--extern",
        "--self-billed",
    ]);
    assert_eq!(exit, 0, "{sent}");
    assert_eq!(sent["uploads"].as_array().map(Vec::len), Some(2), "{sent}");
    let b2c = world.invoice("CLI-F3");
    let (exit, sent) = world.json(&["efactura", "upload", b2c.to_str().unwrap(), "--cif", SELLER, "--b2c"]);
    assert_eq!(exit, 0, "{sent}");
    // ANAF takes `executare` only from a CIF in its register of enforcement bodies, which the
    // seller is not: its refusal shows the flag arrived.
    let enforcement = world.invoice("CLI-F4");
    let (exit, refused) = world.json(&[
        "efactura",
        "upload",
        enforcement.to_str().unwrap(),
        "--cif",
        SELLER,
        "--enforcement",
    ]);
    assert_eq!(exit, 3, "{refused}");
    let error = &refused["uploads"][0]["error"];
    assert_eq!(error["field"], "executare", "{refused}");
    assert!(
        error["anaf_message"]
            .as_str()
            .unwrap_or_default()
            .contains("executari silite")
    );

    let uploads = world.sandbox.uploads(Some(SELLER));
    let numbers: Vec<_> = uploads.iter().map(|u| u.document_number.as_deref()).collect();
    assert_eq!(numbers, [Some("CLI-F1"), Some("CLI-F2"), Some("CLI-F3")]);
    assert_eq!(uploads.iter().map(|u| u.b2c).collect::<Vec<_>>(), [false, false, true]);
    let paths: Vec<String> = world
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.contains("/FCTEL/rest/upload"))
        .map(|r| r.path)
        .collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    for path in &paths[..2] {
        for flag in ["standard=UBL", "extern=DA", "autofactura=DA"] {
            assert!(path.contains(flag), "{flag} in {path}");
        }
    }
    assert!(
        paths[2].contains("/uploadb2c?") && !paths[2].contains("extern"),
        "{}",
        paths[2]
    );
    assert!(paths[3].contains("executare=DA"), "{}", paths[3]);
}

#[test]
fn validate_and_pdf_before_sending() {
    let world = World::instant().logged_in();
    let invoice = world.invoice("CLI-PDF");
    let (exit, report) = world.json(&["efactura", "validate", invoice.to_str().unwrap()]);
    assert_eq!((exit, report["valid"].as_bool()), (0, Some(true)), "{report}");
    let human = world.run(&["efactura", "validate", invoice.to_str().unwrap(), "--kind", "FCN"]);
    assert_eq!(code(&human), 3, "an invoice is not a credit note: {}", text(&human));
    let output = world.run(&["efactura", "pdf", invoice.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let pdf = invoice.with_extension("pdf");
    assert!(std::fs::read(&pdf).expect("pdf").starts_with(b"%PDF"));
    let elsewhere = world.config.path().join("out").join("f.pdf");
    let (exit, written) = world.json(&[
        "efactura",
        "pdf",
        invoice.to_str().unwrap(),
        "-o",
        elsewhere.to_str().unwrap(),
    ]);
    assert_eq!(exit, 0, "{written}");
    assert_eq!(
        written["bytes"].as_u64(),
        std::fs::metadata(&elsewhere).ok().map(|m| m.len())
    );
    let broken = world.file(
        "broken-pdf.xml",
        "<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"/>",
    );
    let (exit, refused) = world.json(&["efactura", "pdf", broken.to_str().unwrap()]);
    assert_eq!(exit, 3, "{refused}");
    assert_eq!(refused["invalid"]["valid"], false);
    assert_eq!(code(&world.run(&["efactura", "pdf", "/no/such/file.xml"])), 1);
}

#[test]
fn a_refused_invoice_exits_3_with_anafs_romanian_errors() {
    let world = World::instant().logged_in();
    let invoice = world.invoice("CLI-DUP");
    let first = world.run(&[
        "efactura",
        "upload",
        invoice.to_str().unwrap(),
        "--cif",
        SELLER,
        "--wait",
    ]);
    assert_eq!(code(&first), 0, "{}", text(&first));
    // The same invoice again: ANAF refuses it (nok) with an error document naming the first.
    let (exit, second) = world.upload(&invoice, true);
    assert_eq!(exit, 3, "{second}");
    assert_eq!(second["uploads"][0]["state"]["state"], "nok");
    let download_id = second["uploads"][0]["state"]["download_id"]
        .as_u64()
        .expect("id")
        .to_string();
    let out = world.config.path().join("refused");
    let human = world.run(&["efactura", "download", &download_id, "--out", out.to_str().unwrap()]);
    assert_eq!(code(&human), 0, "{}", text(&human));
    assert!(stdout(&human).contains("error document"), "{}", text(&human));
    let zip = out.join(format!("{download_id}.zip"));
    let (exit, opened) = world.json(&["efactura", "open", zip.to_str().unwrap()]);
    assert_eq!(exit, 3);
    let messages = opened["error_report"]["messages"].to_string();
    assert!(
        messages.contains("Factura") || messages.contains("factura"),
        "{messages}"
    );

    // ANAF's validator: an invoice it refuses is a refused document too.
    let broken = world.file(
        "broken.xml",
        b"<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"/>",
    );
    let (exit, report) = world.json(&["efactura", "validate", broken.to_str().unwrap()]);
    assert_eq!(exit, 3, "{report}");
    assert_eq!(report["valid"], false);
}

#[test]
fn an_upload_whose_answer_is_lost_is_not_sent_again_and_says_how_to_check() {
    let world = World::instant().logged_in();
    world
        .sandbox
        .inject_fault(FaultSpec {
            endpoint: "efactura.upload".into(),
            fault: Fault::AcceptThenDrop,
            times: Some(1),
        })
        .expect("fault");
    let first = world.invoice("CLI-LOST-1");
    let second = world.invoice("CLI-LOST-2");
    let output = world.run(&[
        "efactura",
        "upload",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        "--cif",
        SELLER,
    ]);
    assert_eq!(code(&output), 7, "{}", text(&output));
    assert!(stdout(&output).contains("Do not send it again"), "{}", text(&output));
    // ANAF got the first (once); the second waits until the user knows where the first stands.
    assert_eq!(world.sandbox.uploads(Some(SELLER)).len(), 1);
    let (exit, error) = world.upload(&second, false);
    assert_eq!(exit, 0, "{error}");
}

#[test]
fn submit_sends_each_invoice_once_and_settles_a_lost_answer_from_anafs_list() {
    let world = World::instant().logged_in();
    world
        .sandbox
        .inject_fault(FaultSpec {
            endpoint: "efactura.upload".into(),
            fault: Fault::AcceptThenDrop,
            times: Some(1),
        })
        .expect("fault");
    let first = world.invoice("CLI-SUB-1");
    let second = world.invoice("CLI-SUB-2");
    let files = [first.to_str().unwrap(), second.to_str().unwrap()];
    // The first answer is lost: unlike `upload`, the next file still goes (nothing can be
    // sent twice), and the exit code says an outcome is unknown.
    let (exit, results) = world.json(&["efactura", "submit", files[0], files[1], "--cif", SELLER]);
    assert_eq!(exit, 7, "{results}");
    assert_eq!(results[0]["submission"]["state"], "unknown", "{results}");
    assert_eq!(results[1]["submission"]["state"], "uploaded", "{results}");
    assert_eq!(world.sandbox.uploads(Some(SELLER)).len(), 2);
    // Run again: the lost one is found in ANAF's list, nothing is sent.
    let (exit, results) = world.json(&["efactura", "submit", files[0], files[1], "--cif", SELLER]);
    assert_eq!(exit, 0, "{results}");
    assert_eq!(results[0]["submission"]["state"], "uploaded", "{results}");
    assert_eq!(world.sandbox.uploads(Some(SELLER)).len(), 2, "each sent once");
    let stored = world.sandbox.uploads(Some(SELLER));
    assert_eq!(results[0]["submission"]["upload_id"], stored[0].upload_id);

    let (exit, journal) = world.json(&["efactura", "submissions", "--resume", "--state", "uploaded"]);
    assert_eq!(exit, 0, "{journal}");
    assert_eq!(journal.as_array().unwrap().len(), 2, "{journal}");
    let table = world.run(&["efactura", "submissions"]);
    assert!(stdout(&table).contains("CLI-SUB-2"), "{}", text(&table));

    // The profile's ledger counted the list and downloads the search made.
    let (exit, usage) = world.json(&["quota"]);
    assert_eq!(exit, 0, "{usage}");
    let counters: Vec<&str> = usage
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["counter"].as_str().unwrap())
        .collect();
    assert!(
        counters.contains(&"list_paged") && counters.contains(&"download"),
        "{usage}"
    );
    let table = world.run(&["quota"]);
    assert!(stdout(&table).contains("midnight in Bucharest"), "{}", text(&table));
}

#[test]
fn limits_auth_and_transport_failures_have_their_exit_codes() {
    // ANAF's daily limit of status calls per message (here 1): 5, with ANAF's text.
    let world = World::new(SandboxOptions::instant().daily_limits(anaf_sandbox::DailyLimits {
        efactura_status: 1,
        ..Default::default()
    }))
    .logged_in();
    let (_, sent) = world.upload(&world.invoice("CLI-LIM"), false);
    let upload_id = sent["uploads"][0]["upload_id"].to_string();
    assert_eq!(world.json(&["efactura", "status", &upload_id]).0, 0);
    let (exit, limited) = world.json(&["efactura", "status", &upload_id]);
    assert_eq!(exit, 5, "{limited}");
    assert_eq!(limited["statuses"][0]["error"]["kind"], "daily_limit");
    assert!(
        limited["statuses"][0]["error"]["anaf_message"]
            .as_str()
            .unwrap()
            .contains("in cursul zilei")
    );
    // From then on the profile's ledger knows: the call is not even sent.
    let requests = world.sandbox.requests().len();
    let human = world.run(&["efactura", "status", &upload_id]);
    assert_eq!(code(&human), 5, "{}", text(&human));
    assert!(stdout(&human).contains("midnight, Bucharest time"), "{}", text(&human));
    // The core's hint is said once, as what to do, not also at the end of the error.
    assert_eq!(
        stdout(&human).matches("wait for the reset").count(),
        1,
        "{}",
        text(&human)
    );
    assert_eq!(world.sandbox.requests().len(), requests, "nothing sent");

    let world = World::instant().logged_in();
    world
        .sandbox
        .inject_fault(FaultSpec {
            endpoint: "efactura.status".into(),
            fault: Fault::Status {
                status: 403,
                body: None,
            },
            times: None,
        })
        .expect("fault");
    let forbidden = world.run(&["efactura", "status", "5000000001"]);
    assert_eq!(code(&forbidden), 4, "{}", text(&forbidden));
    world.sandbox.clear_faults();
    let missing = world.run(&["efactura", "status", "5000000999"]);
    assert_eq!(code(&missing), 1);
    assert!(
        stdout(&missing).contains("Nu exista factura"),
        "ANAF's text: {}",
        text(&missing)
    );

    // Nobody listening any more: could not reach ANAF.
    let config = world.config.path().to_owned();
    let secret = world.secret.clone();
    drop(world.sandbox);
    let output = Command::new(env!("CARGO_BIN_EXE_anaf"))
        .env("ANAF_CONFIG_DIR", &config)
        .env("ANAF_CLIENT_SECRET", &secret)
        .args(["hello"])
        .output()
        .expect("run");
    assert_eq!(code(&output), 6, "{}", text(&output));
    assert!(stderr(&output).contains("what to do:"));
}

#[test]
fn lists_simple_paginated_and_every_page() {
    let world = World::instant().logged_in();
    world
        .sandbox
        .seed_received_invoices(&anaf_sandbox::SeedRequest {
            cif: SELLER.into(),
            count: 620,
            supplier_cif: None,
            days_back: 10,
            env: anaf_sandbox::Env::Test,
        })
        .expect("seed");
    // More than ANAF's 500 in the simple list: refused, and the way out named.
    let (exit, refused) = world.json(&["efactura", "list", "--cif", SELLER, "--days", "30"]);
    assert_eq!(exit, 3, "{refused}");
    let human = world.run(&["efactura", "list", "--cif", SELLER, "--days", "30"]);
    assert!(
        stderr(&human).contains("Folositi endpoint-ul cu paginatie"),
        "{}",
        text(&human)
    );
    assert!(stderr(&human).contains("--from"), "{}", text(&human));
    let (exit, simple) = world.json(&[
        "efactura", "list", "--cif", SELLER, "--days", "1", "--filter", "received",
    ]);
    assert_eq!(exit, 0, "{simple}");
    assert!(!simple["messages"].as_array().expect("messages").is_empty());
    let from = (chrono::Utc::now() - chrono::Duration::days(20))
        .format("%Y-%m-%d")
        .to_string();
    let (exit, first) = world.json(&["efactura", "list", "--cif", SELLER, "--from", &from]);
    assert_eq!(exit, 0, "{first}");
    let pages = first["total_pages"].as_u64().expect("pages");
    assert!(pages > 1);
    let (exit, all) = world.json(&["efactura", "list", "--cif", SELLER, "--from", &from, "--all"]);
    assert_eq!(exit, 0);
    assert_eq!(
        all["messages"].as_array().expect("messages").len() as u64,
        all["total_messages"].as_u64().unwrap()
    );
    let human = world.run(&["efactura", "list", "--cif", SELLER, "--from", &from]);
    assert!(stdout(&human).contains("DOWNLOAD ID") && stdout(&human).contains("add --all"));
}

// --- e-Transport ---------------------------------------------------------------------------

#[test]
fn etransport_upload_status_list() {
    let world = World::instant().logged_in();
    let declaration = world.file(
        "aviz.xml",
        transport_notification_xml(&TransportSpec::new(SELLER, "AVIZ-CLI-1")),
    );
    let (exit, receipt) = world.json(&["etransport", "upload", declaration.to_str().unwrap(), "--cif", SELLER]);
    assert_eq!(exit, 0, "{receipt}");
    let id = receipt["upload_id"].as_u64().expect("id");
    let upload_id = id.to_string();
    assert_eq!(receipt["uit"].as_str().map(str::len), Some(16));
    let (exit, state) = world.json(&["etransport", "status", &upload_id]);
    assert_eq!((exit, state["state"].as_str()), (0, Some("ok")));
    let (exit, list) = world.json(&["etransport", "list", "--cif", SELLER, "--days", "1"]);
    assert_eq!(exit, 0);
    assert!(
        list.as_array()
            .expect("records")
            .iter()
            .any(|r| r["upload_id"].as_u64() == Some(id))
    );
    let human = world.run(&["etransport", "list", "--cif", SELLER, "--days", "1"]);
    assert!(
        stdout(&human).contains("UIT") && stdout(&human).contains(&upload_id),
        "{}",
        text(&human)
    );
    let uit = receipt["uit"].as_str().expect("uit");
    let info = world.run(&["etransport", "info", "--cif", SELLER, "--uit", uit]);
    assert_eq!(code(&info), 0, "{}", text(&info));
    let records: Value = serde_json::from_slice(&info.stdout).expect("ANAF's records as JSON");
    assert!(records.is_array(), "{records}");
}

// --- demo, sandbox, completions, the terminal ------------------------------------------------

#[test]
fn demo_runs_the_round_trip() {
    let world = World::instant();
    let output = world.run(&["demo"]);
    assert_eq!(code(&output), 0, "{}", text(&output));
    for term in ["SPV", "CIF", "stare", "descarcare", "UIT", "$ anaf efactura upload"] {
        assert!(stdout(&output).contains(term), "{term} explained: {}", text(&output));
    }
    let (exit, steps) = world.json(&["demo"]);
    assert_eq!(exit, 0);
    assert_eq!(steps["steps"].as_array().map(Vec::len), Some(10));
}

#[test]
fn the_sandbox_command_serves_other_programs() {
    let world = World::instant();
    let mut child = world
        .command()
        .args(["sandbox", "--port", "0", "--json", "--client-id", "fixed-id"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("sandbox");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("startup line");
    let info: Value = serde_json::from_str(&line).expect("startup JSON");
    assert_eq!(info["application"]["client_id"], "fixed-id");
    let base = info["base_url"].as_str().expect("base").to_owned();
    // Another profile on it, and a call through it.
    let added = world.run(&[
        "profile",
        "add",
        "other",
        "--base-url",
        &base,
        "--client-id",
        "fixed-id",
        "--redirect-uri",
        "https://localhost:8443/callback",
    ]);
    assert_eq!(code(&added), 0);
    let (exit, lookup) = world.json(&["--profile", "other", "cif", "lookup", BUYER]);
    assert_eq!(exit, 0, "{lookup}");
    child.kill().expect("stop");
    let _ = child.wait();
}

#[test]
fn completions_for_the_usual_shells() {
    let world = World::instant();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = world.run(&["completions", shell]);
        assert_eq!(code(&output), 0);
        assert!(stdout(&output).contains("efactura"), "{shell}");
    }
}

/// The progress shows on a terminal (a pseudo-terminal made by `script`) and never in a pipe.
#[cfg(target_os = "linux")]
#[test]
fn sync_archives_every_message_once_with_a_bar_on_a_terminal() {
    let world = World::instant().logged_in();
    world
        .sandbox
        .seed_received_invoices(&anaf_sandbox::SeedRequest {
            cif: SELLER.into(),
            count: 30,
            supplier_cif: None,
            days_back: 10,
            env: anaf_sandbox::Env::Test,
        })
        .expect("seed");
    // Slow downloads, so the bar is drawn.
    world
        .sandbox
        .inject_fault(FaultSpec {
            endpoint: "efactura.download".into(),
            fault: Fault::Latency { ms: 40 },
            times: Some(30),
        })
        .expect("fault");
    let folder = world.config.path().join("arhiva");
    let line = format!(
        "{} sync --cif RO{SELLER} --folder {}",
        env!("CARGO_BIN_EXE_anaf"),
        folder.display()
    );
    if Command::new("script").arg("--version").output().is_ok() {
        let terminal = world
            .command_of("script")
            .args(["-q", "-e", "-c", &line, "/dev/null"])
            .env("TERM", "xterm")
            .output()
            .expect("script");
        let seen = String::from_utf8_lossy(&terminal.stdout).into_owned();
        assert!(terminal.status.success(), "{seen}");
        assert!(seen.contains("already archived ["), "no progress bar: {seen}");
        assert!(seen.contains("30 new"), "{seen}");
    } else {
        eprintln!("the bar is not checked: `script` (util-linux) is not installed");
        let first = world.run(&["sync", "--cif", SELLER, "--folder", folder.to_str().unwrap()]);
        assert_eq!(code(&first), 0, "{}", text(&first));
    }
    let received = std::fs::read_dir(folder.join(SELLER).join("received"))
        .expect("received")
        .map(|month| std::fs::read_dir(month.expect("month").path()).expect("month").count())
        .sum::<usize>();
    assert_eq!(received, 30);
    // Again: nothing new, nothing downloaded; the report in JSON; no bar when piped.
    let (exit, report) = world.json(&["sync", "--cif", SELLER, "--folder", folder.to_str().unwrap()]);
    assert_eq!(exit, 0, "{report}");
    assert_eq!(report["progress"]["archived"], 0, "{report}");
    assert_eq!(report["progress"]["already_archived"], 30, "{report}");
    let piped = world.run(&["sync", "--cif", SELLER, "--folder", folder.to_str().unwrap()]);
    assert!(stdout(&piped).contains("0 new"), "{}", text(&piped));
    assert!(!text(&piped).contains("already archived ["), "{}", text(&piped));
}

#[test]
fn progress_shows_on_a_terminal_only() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let world = World::new(SandboxOptions::instant().processing_delay(Duration::from_millis(1500))).logged_in();
    let invoice = world.invoice("CLI-TTY");
    let line = format!(
        "{} efactura upload {} --cif {SELLER} --wait",
        env!("CARGO_BIN_EXE_anaf"),
        invoice.display()
    );
    let terminal = world
        .command_of("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .expect("script");
    let seen = String::from_utf8_lossy(&terminal.stdout).into_owned();
    assert!(seen.contains("waiting for ANAF's verdict"), "{seen}");
    assert!(seen.contains("ok (download id"), "{seen}");

    let piped = world.run(&[
        "efactura",
        "upload",
        world.invoice("CLI-PIPE").to_str().unwrap(),
        "--cif",
        SELLER,
        "--wait",
    ]);
    assert_eq!(code(&piped), 0, "{}", text(&piped));
    assert!(!text(&piped).contains("waiting for ANAF's verdict"));
}
