//! `anaf demo`: the whole round trip against an embedded sandbox, each step narrated with
//! what the ANAF term means and the `anaf` command that does the same against the real ANAF.

use std::time::{Duration, Instant};

use anaf_core::efactura::{DocumentType, MessageFilter, UploadOptions, UploadState, WaitOptions};
use anaf_core::etransport::SchemaVersion;
use anaf_core::{Application, Cif, Environment, blocking};
use anaf_sandbox::samples::{InvoiceSpec, TransportSpec, invoice_xml, transport_notification_xml};
use anaf_sandbox::{Sandbox, SandboxOptions};
use anstream::println;
use serde_json::json;

use crate::args::Global;
use crate::failure::{Exit, Failure};
use crate::output::{self, DIM, GOOD, HEAD, paint};

const SELLER: &str = "8000000000";
const BUYER: &str = "12345674";

struct Narrator {
    json: bool,
    started: Instant,
    step: usize,
    steps: Vec<serde_json::Value>,
}

impl Narrator {
    /// A step: its title, what it means, and the command that does it for real.
    fn step(&mut self, title: &str, meaning: &str, command: &str) {
        self.step += 1;
        if !self.json {
            println!();
            println!("{}", paint(HEAD, format!("{}. {title}", self.step)));
            for line in meaning.lines() {
                println!("   {}", paint(DIM, line));
            }
            println!("   {} {command}", paint(DIM, "$"));
        }
    }

    fn result(&mut self, key: &str, value: serde_json::Value, text: String) {
        if self.json {
            self.steps.push(json!({ "step": self.step, key: value }));
        } else {
            println!(
                "   {} {text} {}",
                paint(GOOD, "->"),
                paint(DIM, format!("[{:.1} s]", self.started.elapsed().as_secs_f64()))
            );
        }
    }
}

pub fn run(global: &Global) -> Result<Exit, Failure> {
    let mut n = Narrator {
        json: global.json,
        started: Instant::now(),
        step: 0,
        steps: Vec::new(),
    };
    // ANAF takes seconds to process an upload; the demo's ANAF takes one, to show the wait.
    let sandbox = Sandbox::start(
        SandboxOptions::default()
            .processing_delay(Duration::from_millis(800))
            .indexing_lag(Duration::from_millis(300)),
    )
    .map_err(|e| Failure::Other(format!("the sandbox did not start: {e}")))?;
    let app = sandbox.default_application();
    if !n.json {
        println!(
            "{}",
            paint(
                HEAD,
                "anaf demo: a round trip with ANAF, on a copy of ANAF running inside this program"
            )
        );
        println!(
            "{}",
            paint(
                DIM,
                format!(
                    "The sandbox answers as ANAF does (same addresses, messages and limits) on {}.\n\
                     Nothing here reaches the real ANAF. `anaf sandbox` runs it for your own software.",
                    sandbox.base_url()
                )
            )
        );
    }
    let client = anaf_core::Client::builder()
        .environment(Environment::Test)
        .base_url(sandbox.base_url())?
        .application(Application::new(
            app.client_id.clone(),
            app.client_secret.clone(),
            app.redirect_uris[0].clone(),
        ))
        .build_blocking()?;

    login(&mut n, &sandbox, &client)?;
    partners(&mut n, &client)?;
    efactura(&mut n, &client)?;
    etransport(&mut n, &client)?;

    n.step(
        "Log out",
        "Revoking asks ANAF to invalidate the tokens; `logout` only forgets them here.",
        "anaf token revoke",
    );
    let revocation = client.oauth().revoke()?;
    n.result(
        "revocation",
        json!(revocation),
        format!("tokens revoked ({})", revocation.code()),
    );

    if n.json {
        output::json(&json!({ "sandbox": sandbox.base_url(), "steps": n.steps }));
    } else {
        println!();
        println!(
            "{} in {:.1} s. Next: `anaf profile add --help` to set up the real ANAF, or `anaf sandbox` to test your own software offline.",
            paint(GOOD, "Done"),
            n.started.elapsed().as_secs_f64()
        );
    }
    Ok(Exit::Ok)
}

fn login(n: &mut Narrator, sandbox: &Sandbox, client: &blocking::Client) -> Result<(), Failure> {
    n.step(
        "Log in (OAuth 2.0 at logincert.anaf.ro)",
        "You register an application in ANAF's portal once (client ID, secret, callback).\n\
         Logging in opens ANAF's page in the browser, which asks for your qualified certificate;\n\
         ANAF then sends the browser back with a code this program trades, within 60 seconds,\n\
         for an access token (90 days) and a refresh token (365 days; both are renewed on use).\n\
         Here the sandbox plays the browser and the certificate.",
        "anaf login",
    );
    let code = sandbox
        .authorize(&sandbox.default_authorize_request())
        .map_err(|e| Failure::Other(format!("the sandbox's authorization: {e}")))?;
    let tokens = client.oauth().exchange_code(&code.code)?;
    n.result(
        "tokens",
        json!(tokens.info()),
        format!(
            "logged in; the access token is valid until {}",
            tokens.expires_at.format("%Y-%m-%d")
        ),
    );

    n.step(
        "Check the login (TestOauth \"hello\")",
        "ANAF's test endpoint answers only with a valid token: the quickest end-to-end check.",
        "anaf hello",
    );
    let hello = client.hello("demo")?;
    n.result(
        "hello",
        json!(hello),
        hello.lines().next().unwrap_or_default().to_owned(),
    );
    Ok(())
}

fn partners(n: &mut Narrator, client: &blocking::Client) -> Result<(), Failure> {
    n.step(
        "Check a CIF",
        "A CIF (or CUI) is a company's tax number: up to 10 digits, the last a control digit,\n\
         written with an RO prefix when the company pays VAT. Checked offline.",
        &format!("anaf cif check RO{BUYER}"),
    );
    let cif = Cif::parse(&format!("RO{BUYER}"))?;
    n.result("cif", json!(cif.as_str()), format!("RO{BUYER} is valid (CIF {cif})"));

    n.step(
        "Look the buyer up in ANAF's public VAT registry",
        "Name, address, VAT status (and VAT on collection), inactive or struck off, and whether\n\
         it is in the RO e-Factura register: what an invoice's buyer fields need. No login.",
        &format!("anaf cif lookup {BUYER}"),
    );
    let lookup = client.public().lookup_taxpayers([BUYER], None)?;
    let text = match lookup.found.first() {
        Some(t) => format!(
            "{}, {}; VAT payer: {}",
            t.name,
            t.address,
            if t.vat_payer { "yes" } else { "no" }
        ),
        None => "not found".to_owned(),
    };
    n.result("lookup", json!(lookup), text);
    Ok(())
}

fn efactura(n: &mut Narrator, client: &blocking::Client) -> Result<(), Failure> {
    let mut spec = InvoiceSpec::new("DEMO-0001", SELLER, BUYER);
    spec.issue_date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let xml = invoice_xml(&spec);
    let out_dir = std::env::temp_dir().join(format!("anaf-demo-{}", std::process::id()));

    n.step(
        "Validate the invoice (RO e-Factura)",
        "Invoices go to ANAF as UBL 2.1 XML following CIUS-RO, Romania's rules on top of the\n\
         European standard. ANAF's validator checks one without sending it.",
        "anaf efactura validate factura.xml",
    );
    let report = client.efactura().validate(xml.clone(), DocumentType::Invoice)?;
    n.result(
        "validation",
        json!(report),
        if report.valid {
            "valid".into()
        } else {
            format!("not valid: {:?}", report.messages)
        },
    );

    n.step(
        "Send it and wait for ANAF's verdict",
        "The upload returns an upload index (\"index_incarcare\"); the state (\"stare\") is\n\
         \"in prelucrare\" (processing) until ANAF says ok (delivered to the buyer's SPV, the\n\
         private online space of each company at ANAF) or nok (refused, with an error document).\n\
         An upload is never sent twice by this client, even after a timeout.",
        &format!("anaf efactura upload factura.xml --cif {SELLER} --wait"),
    );
    let spinner = output::spinner("waiting for ANAF's verdict");
    let submission = client.efactura().upload_and_wait(
        xml,
        SELLER,
        UploadOptions::default(),
        WaitOptions::default().first_poll(Duration::from_millis(500)),
    );
    spinner.finish_and_clear();
    let submission = submission?;
    n.result(
        "submission",
        json!(submission),
        format!(
            "upload {} is {} after {} poll(s)",
            submission.receipt.upload_id,
            submission.state.code(),
            submission.polls
        ),
    );
    let UploadState::Ok { download_id } = submission.state else {
        return Err(Failure::Other(format!(
            "the demo's invoice ended {}",
            submission.state.code()
        )));
    };

    n.step(
        "Download the answer (\"descarcare\")",
        "A ZIP with the invoice and ANAF's electronic signature of it: the legal original, to\n\
         archive. ANAF keeps messages 60 days. The signature can be checked at ANAF.",
        &format!("anaf efactura download {download_id} --extract"),
    );
    let archive = client.efactura().download(download_id)?;
    std::fs::create_dir_all(&out_dir).map_err(|e| Failure::io("create", &out_dir, e))?;
    let zip_path = out_dir.join(format!("{download_id}.zip"));
    std::fs::write(&zip_path, archive.zip_bytes()).map_err(|e| Failure::io("write", &zip_path, e))?;
    let verdict = client
        .efactura()
        .verify_signature(archive.document()?, archive.signature()?)?;
    n.result(
        "download",
        json!({ "zip": zip_path, "document": archive.document_name(), "signature_valid": verdict.valid }),
        format!(
            "{} saved ({} and {}); signature {}",
            zip_path.display(),
            archive.document_name(),
            archive.signature_name(),
            if verdict.valid { "valid" } else { "NOT valid" }
        ),
    );

    n.step(
        "List the messages",
        "Everything in the company's SPV: invoices sent (T), received from suppliers (P), error\n\
         documents (E) and buyers' messages (R), for up to the last 60 days.",
        &format!("anaf efactura list --cif {SELLER} --days 1 --filter sent"),
    );
    std::thread::sleep(Duration::from_millis(400)); // the sandbox's indexing lag
    let messages = client.efactura().list_messages(SELLER, 1, Some(MessageFilter::Sent))?;
    n.result(
        "messages",
        json!(messages),
        format!(
            "{} sent message(s); the newest: {}",
            messages.len(),
            messages.first().map(|m| m.details.as_str()).unwrap_or("-")
        ),
    );
    Ok(())
}

fn etransport(n: &mut Narrator, client: &blocking::Client) -> Result<(), Failure> {
    n.step(
        "Declare a road transport (RO e-Transport)",
        "Goods at fiscal risk travelling by road are declared before they leave; ANAF answers\n\
         with a UIT, the transport's unique code, which travels with the goods.",
        &format!("anaf etransport upload aviz.xml --cif {SELLER}"),
    );
    let receipt = client.etransport().upload(
        transport_notification_xml(&TransportSpec::new(SELLER, "AVIZ-DEMO-1")),
        SELLER,
        SchemaVersion::V2,
    )?;
    n.result(
        "transport",
        json!(receipt),
        format!("declaration {} has UIT {}", receipt.upload_id, receipt.raw_uit),
    );
    Ok(())
}
