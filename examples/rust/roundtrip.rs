//! The main job: a whole round trip against an in-process ANAF sandbox.
//!
//! Run: `cargo run -p anaf --example roundtrip` (`RUST_LOG=anaf=debug` shows each call).
//!
//! It starts the sandbox on a free loopback port, logs in through the authorization page (the
//! sandbox's stand-in for the certificate prompt), then uses every e-Factura and e-Transport
//! operation and the public registry, prints what happened, and writes the PDF and the
//! answer ZIP to a directory it names at the end.

use std::time::{Duration, Instant};

use anaf::efactura::{DocumentType, MessageFilter, PdfOutcome, UploadOptions, UploadState, WaitOptions};
use anaf::etransport::{SchemaVersion, TransportState};
use anaf::{Application, Client, Environment, TokenChange, TokenEvent};
use anaf_sandbox::samples::{InvoiceSpec, TransportSpec, invoice_xml, transport_notification_xml};
use anaf_sandbox::{Sandbox, SandboxOptions, SeedRequest};

const SELLER: &str = "8000000000";
const BUYER: &str = "12345674";

fn step(started: Instant, what: &str) {
    println!("[{:>6.2}s] {what}", started.elapsed().as_secs_f64());
}

/// What the user's browser does: opens the authorization page, picks the certificate
/// (here: the sandbox identity) and follows the redirect to the registered callback.
async fn approve_in_browser(sandbox_url: &str, authorization_url: &str) -> Result<String, Box<dyn std::error::Error>> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = browser.get(authorization_url).send().await?.text().await?;
    let field = |name: &str| -> String {
        let marker = format!("name=\"{name}\" value=\"");
        page.find(&marker)
            .map(|i| {
                page[i + marker.len()..]
                    .split('"')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default()
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
        .post(format!("{sandbox_url}/anaf-oauth2/v1/authorize"))
        .form(&form)
        .send()
        .await?;
    Ok(answer
        .headers()
        .get("location")
        .ok_or("no redirect")?
        .to_str()?
        .to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // RUST_LOG=anaf=debug prints every call (operation, endpoint, status, duration); no token
    // ever appears in these logs.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let started = Instant::now();
    let out_dir = std::env::temp_dir().join("anaf-roundtrip");
    std::fs::create_dir_all(&out_dir)?;
    let sandbox = Sandbox::start(SandboxOptions::default())?;
    let app = sandbox.default_application();
    step(
        started,
        &format!(
            "sandbox listening on {} (uploads stay \"in prelucrare\" for 2 s, the sandbox's default)",
            sandbox.base_url()
        ),
    );

    let client = Client::builder()
        .environment(Environment::Test)
        .base_url(sandbox.base_url())?
        .application(Application::new(
            &app.client_id,
            app.client_secret.as_str(),
            &app.redirect_uris[0],
        ))
        .on_token_event(|event| {
            if let TokenEvent::Changed { tokens, change, .. } = event {
                let what = match change {
                    TokenChange::Login => "tokens obtained by the login",
                    TokenChange::Refresh => "tokens rotated by a refresh",
                    _ => "tokens changed",
                };
                println!("           {what}; access token valid until {}", tokens.expires_at);
            }
        })
        .build()?;

    // 1. OAuth: authorization URL, the browser step, code exchange.
    let request = client.oauth().authorization_url(None)?;
    step(
        started,
        &format!("authorization URL: {}...", &request.url[..request.url.len().min(90)]),
    );
    let redirected = approve_in_browser(sandbox.base_url(), &request.url).await?;
    step(
        started,
        "the user approved; the browser was sent to the registered callback",
    );
    let tokens = client
        .oauth()
        .complete_authorization(&redirected, &request.state)
        .await?;
    step(
        started,
        &format!(
            "code exchanged; access token expires {} (from the JWT exp claim)",
            tokens.expires_at
        ),
    );

    // 2. TestOauth.
    let hello = client.hello("roundtrip").await?;
    step(
        started,
        &format!("TestOauth says: {}", hello.lines().next().unwrap_or_default()),
    );

    // 3. e-Factura: validate, upload and wait, download and unzip.
    let mut spec = InvoiceSpec::new("RT-0001", SELLER, BUYER);
    spec.issue_date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let xml = invoice_xml(&spec);
    let report = client.efactura().validate(xml.clone(), DocumentType::Invoice).await?;
    step(
        started,
        &format!("validare: {}", if report.valid { "ok" } else { "nok" }),
    );
    if let PdfOutcome::Pdf(pdf) = client
        .efactura()
        .to_pdf(xml.clone(), DocumentType::Invoice, true)
        .await?
    {
        let path = out_dir.join("factura.pdf");
        std::fs::write(&path, &pdf)?;
        step(
            started,
            &format!("transformare: {} bytes of PDF written to {}", pdf.len(), path.display()),
        );
    }
    let wait = WaitOptions::default().first_poll(Duration::from_millis(500));
    step(
        started,
        "uploading the invoice and polling its state (stareMesaj) until final...",
    );
    let submission = client
        .efactura()
        .upload_and_wait(xml, SELLER, UploadOptions::default(), wait)
        .await?;
    step(
        started,
        &format!(
            "upload {} is {} after {} polls",
            submission.receipt.upload_id,
            submission.state.code(),
            submission.polls
        ),
    );
    let UploadState::Ok { download_id } = submission.state else {
        return Err(format!("unexpected state {:?}", submission.state).into());
    };
    let archive = client.efactura().download(download_id).await?;
    let zip_path = out_dir.join(format!("{download_id}.zip"));
    std::fs::write(&zip_path, archive.zip_bytes())?;
    step(
        started,
        &format!(
            "descarcare {download_id}: {} bytes written to {}; it holds {} ({} bytes) and {}",
            archive.zip_bytes().len(),
            zip_path.display(),
            archive.document_name(),
            archive.document()?.len(),
            archive.signature_name()
        ),
    );
    let verdict = client
        .efactura()
        .verify_signature(archive.document()?, archive.signature()?)
        .await?;
    step(
        started,
        &format!("signature check: {}", if verdict.valid { "valid" } else { "NOT valid" }),
    );

    // 4. Lists: the simple one, and all pages of the paginated one.
    tokio::time::sleep(Duration::from_millis(1100)).await; // the sandbox's 1 s indexing lag
    let sent = client
        .efactura()
        .list_messages(SELLER, 1, Some(MessageFilter::Sent))
        .await?;
    step(
        started,
        &format!(
            "listaMesajeFactura: {} sent message(s); first: {}",
            sent.len(),
            sent.first().map(|m| m.details.as_str()).unwrap_or("-")
        ),
    );
    sandbox.seed_received_invoices(&SeedRequest {
        cif: SELLER.into(),
        count: 1200,
        supplier_cif: None,
        days_back: 30,
        env: anaf_sandbox::Env::Test,
    })?;
    let mut stream = client.efactura().messages(
        SELLER,
        chrono::Utc::now() - chrono::Duration::days(40),
        Some(chrono::Utc::now()),
        None,
    );
    let mut pages = 0;
    let mut total = 0;
    while let Some(page) = stream.next_page().await? {
        pages += 1;
        total += page.messages.len();
        step(
            started,
            &format!(
                "listaMesajePaginatieFactura page {}/{}: {} messages",
                page.page,
                page.total_pages,
                page.messages.len()
            ),
        );
    }
    step(started, &format!("{total} messages in {pages} pages"));

    // 5. e-Transport.
    let receipt = client
        .etransport()
        .upload(
            transport_notification_xml(&TransportSpec::new(SELLER, "AVIZ-RT-1")),
            SELLER,
            SchemaVersion::V2,
        )
        .await?;
    step(
        started,
        &format!("e-Transport declaration {}: UIT {}", receipt.upload_id, receipt.raw_uit),
    );
    let mut state = client.etransport().status(receipt.upload_id).await?;
    while state == TransportState::InProgress {
        tokio::time::sleep(Duration::from_millis(500)).await;
        state = client.etransport().status(receipt.upload_id).await?;
    }
    step(started, &format!("e-Transport state: {}", state.code()));

    // 6. The public VAT registry: fill in a partner from its CIF.
    let lookup = client.public().lookup_taxpayers([BUYER], None).await?;
    if let Some(partner) = lookup.found.first() {
        step(
            started,
            &format!(
                "VAT registry: {} ({}), VAT payer: {}, RO e-Factura: {}",
                partner.name,
                partner.cif,
                if partner.vat_payer { "yes" } else { "no" },
                if partner.efactura_registered {
                    "registered"
                } else {
                    "not registered"
                }
            ),
        );
    }

    client.oauth().revoke().await?;
    step(
        started,
        &format!(
            "tokens revoked; {} requests reached the sandbox",
            sandbox.requests().len()
        ),
    );
    println!(
        "roundtrip complete in {:.1} s; files written to {}",
        started.elapsed().as_secs_f64(),
        out_dir.display()
    );
    Ok(())
}
