//! `anaf efactura`: upload, status ("stare"), download ("descarcare"), lists, validation,
//! PDF, signature check, and a saved answer ZIP opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anaf_core::efactura::{
    Archive, DocumentType, InvoiceSummary, MessageFilter, PdfOutcome, Standard, UploadOptions, UploadState, WaitOptions,
};
use anaf_core::state::{SubmissionQuery, SubmissionRecord, SubmissionState};
use anaf_core::{Error, blocking};
use anstream::println;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::json;

use crate::args::{DocumentArgs, DownloadArgs, EfacturaCommand, Global, ListArgs, UploadArgs};
use crate::failure::{self, Exit, Failure};
use crate::output::{self, BAD, GOOD, WARN, paint};
use crate::session::{self, Secret};

pub fn run(global: &Global, command: EfacturaCommand) -> Result<Exit, Failure> {
    let session = session::open(global, Secret::IfRefreshDue)?;
    let client = &session.client;
    match command {
        EfacturaCommand::Upload(args) => upload(global, client, &args),
        EfacturaCommand::Submit(args) => submit(global, client, &args),
        EfacturaCommand::Submissions {
            cif,
            state,
            resume,
            limit,
        } => submissions(global, client, cif, state, resume, limit),
        EfacturaCommand::Status { upload_ids } => status(global, client, &upload_ids),
        EfacturaCommand::Download(args) => download(global, client, &args),
        EfacturaCommand::List(args) => list(global, client, &args),
        EfacturaCommand::Validate { file, kind } => validate(global, client, &file, &kind),
        EfacturaCommand::Pdf {
            file,
            kind,
            out,
            no_validate,
        } => pdf(global, client, &file, &kind, out, !no_validate),
        EfacturaCommand::Verify { invoice, signature } => verify(global, client, &invoice, &signature),
        EfacturaCommand::Open { zip, verify } => open(global, client, &zip, verify),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::io("read", path, e))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| Failure::io("create", dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Failure::io("write", path, e))
}

pub(crate) fn parsed<T: std::str::FromStr<Err = Error>>(text: &str) -> Result<T, Failure> {
    text.parse::<T>().map_err(Failure::from)
}

/// The worse of two exit codes, for commands over several items: the first failure that
/// needs the most attention is what a script sees.
fn worse(a: Exit, b: Exit) -> Exit {
    let rank = |e: Exit| match e {
        Exit::Ok => 0,
        Exit::Failed => 1,
        Exit::Refused => 2,
        Exit::Transport => 3,
        Exit::Limit => 4,
        Exit::Usage => 5,
        Exit::Auth => 6,
        Exit::OutcomeUnknown => 7,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn state_text(state: UploadState) -> String {
    match state {
        UploadState::InProgress => paint(WARN, "in progress (\"in prelucrare\")"),
        UploadState::Ok { download_id } => format!("{} (download id {download_id})", paint(GOOD, "ok")),
        UploadState::Nok { download_id } => format!(
            "{}: refused; ANAF's errors: `anaf efactura download {download_id} --extract`",
            paint(BAD, "nok")
        ),
        UploadState::RejectedXml => paint(
            BAD,
            "XML refused without an error document (\"XML cu erori nepreluat de sistem\")",
        ),
        _ => state.code().to_owned(),
    }
}

fn state_exit(state: UploadState) -> Exit {
    match state {
        UploadState::Ok { .. } => Exit::Ok,
        UploadState::InProgress => Exit::Failed,
        _ => Exit::Refused,
    }
}

fn submission_text(record: &SubmissionRecord) -> String {
    match record.state {
        SubmissionState::Uploaded => format!(
            "{} as upload {} (follow it: `anaf efactura status {}`)",
            paint(GOOD, "uploaded"),
            record.upload_id.unwrap_or_default(),
            record.upload_id.unwrap_or_default()
        ),
        SubmissionState::Unknown => format!(
            "{}: ANAF's answer was lost; anaf looks for it at ANAF before sending it again (run this again later, or `anaf efactura submissions --resume`)",
            paint(WARN, "outcome unknown")
        ),
        SubmissionState::Sending => paint(WARN, "being sent by another process"),
        SubmissionState::Pending => paint(WARN, "not sent yet (it will be retried)"),
        SubmissionState::Failed => paint(BAD, "refused"),
        _ => record.state.code().to_owned(),
    }
}

fn submission_exit(record: &SubmissionRecord) -> Exit {
    match record.state {
        SubmissionState::Uploaded => Exit::Ok,
        SubmissionState::Unknown | SubmissionState::Sending => Exit::OutcomeUnknown,
        SubmissionState::Failed => Exit::Refused,
        _ => Exit::Failed,
    }
}

fn upload_options(args: &DocumentArgs) -> Result<UploadOptions, Failure> {
    Ok(UploadOptions::new()
        .standard(parsed::<Standard>(&args.standard)?)
        .external(args.external)
        .self_billed(args.self_billed)
        .enforcement(args.enforcement)
        .b2c(args.b2c))
}

/// A file's failure: in the JSON results, or printed with what to do next.
fn report_failure(global: &Global, name: &str, failure: &Failure, results: &mut Vec<serde_json::Value>) {
    if global.json {
        results.push(json!({ "file": name, "error": failure.to_json()["error"] }));
    } else {
        let (what, next) = failure.explain();
        println!("{name}: {} {what}", paint(BAD, "failed:"));
        if let Some(next) = next {
            println!("  {} {next}", paint(WARN, "what to do:"));
        }
    }
}

fn submit(global: &Global, client: &blocking::Client, args: &DocumentArgs) -> Result<Exit, Failure> {
    let options = upload_options(args)?;
    let mut exit = Exit::Ok;
    let mut results = Vec::new();
    let bar = (args.files.len() > 1 && !global.json).then(|| output::bar(args.files.len() as u64, "invoices"));
    for file in &args.files {
        let xml = read(file)?;
        let name = file.display().to_string();
        let outcome = client.efactura().submit(xml, &args.cif, options);
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        match outcome {
            Ok(record) => {
                exit = worse(exit, submission_exit(&record));
                if !global.json {
                    let line = format!("{name}: {}", submission_text(&record));
                    match &bar {
                        Some(bar) => bar.println(line),
                        None => println!("{line}"),
                    }
                }
                results.push(json!({ "file": name, "submission": record }));
            }
            // Recorded in the journal too; every file is tried (none can be sent twice).
            Err(error) => {
                let failure = Failure::Anaf(error);
                exit = worse(exit, failure.exit());
                report_failure(global, &name, &failure, &mut results);
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if global.json {
        output::json(&results);
    }
    Ok(exit)
}

fn submissions(
    global: &Global,
    client: &blocking::Client,
    cif: Option<String>,
    state: Option<String>,
    resume: bool,
    limit: u32,
) -> Result<Exit, Failure> {
    if resume {
        let spinner = output::spinner("moving unsettled submissions on");
        let resumed = client.efactura().resume_submissions();
        spinner.finish_and_clear();
        let resumed = resumed?;
        if !global.json {
            println!("resumed {} submission(s)", resumed.len());
        }
    }
    let mut query = SubmissionQuery::new().limit(limit);
    if let Some(cif) = cif {
        query = query.cif(cif);
    }
    if let Some(state) = state {
        query = query.state(parsed::<SubmissionState>(&state)?);
    }
    let records = client.efactura().submissions(&query)?;
    if global.json {
        output::json(&records);
    } else if records.is_empty() {
        println!("no submissions");
    } else {
        let rows: Vec<Vec<String>> = records
            .iter()
            .map(|r| {
                vec![
                    r.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    r.cif.clone(),
                    r.invoice_number.clone().unwrap_or_default(),
                    r.state.code().to_owned(),
                    r.upload_id.map(|id| id.to_string()).unwrap_or_default(),
                    r.attempts.to_string(),
                ]
            })
            .collect();
        output::table(&["recorded", "cif", "invoice", "state", "upload", "sends"], &rows);
    }
    Ok(Exit::Ok)
}

fn upload(global: &Global, client: &blocking::Client, upload: &UploadArgs) -> Result<Exit, Failure> {
    let args = &upload.document;
    let options = upload_options(args)?;
    let mut exit = Exit::Ok;
    let mut results = Vec::new();
    for file in &args.files {
        let xml = read(file)?;
        let name = file.display().to_string();
        let outcome = if upload.wait {
            let spinner = output::spinner(format!("{name}: sent, waiting for ANAF's verdict"));
            let wait = WaitOptions::default().timeout(Duration::from_secs(upload.timeout));
            let submission = client.efactura().upload_and_wait(xml, &args.cif, options, wait);
            spinner.finish_and_clear();
            submission.map(|s| {
                exit = worse(exit, state_exit(s.state));
                if !global.json {
                    println!("{name}: upload {}: {}", s.receipt.upload_id, state_text(s.state));
                    if s.state == UploadState::InProgress {
                        println!(
                            "  still in progress: `anaf efactura status {}` later (do not send it again)",
                            s.receipt.upload_id
                        );
                    }
                }
                json!({ "file": name, "upload_id": s.receipt.upload_id, "receipt": s.receipt, "state": s.state, "polls": s.polls })
            })
        } else {
            client.efactura().upload(xml, &args.cif, options).map(|receipt| {
                if !global.json {
                    println!(
                        "{name}: {} as upload {} (follow it: `anaf efactura status {}`)",
                        paint(GOOD, "sent"),
                        receipt.upload_id,
                        receipt.upload_id
                    );
                }
                json!({ "file": name, "upload_id": receipt.upload_id, "receipt": receipt })
            })
        };
        match outcome {
            Ok(result) => results.push(result),
            Err(error) => {
                let failure = Failure::Anaf(error);
                exit = worse(exit, failure.exit());
                report_failure(global, &name, &failure, &mut results);
                // After an upload that may have reached ANAF, stop: the next files wait until
                // the user knows where this one stands.
                if failure.exit() == Exit::OutcomeUnknown {
                    break;
                }
            }
        }
    }
    if global.json {
        output::json(&json!({ "uploads": results }));
    }
    Ok(exit)
}

fn status(global: &Global, client: &blocking::Client, upload_ids: &[u64]) -> Result<Exit, Failure> {
    let mut exit = Exit::Ok;
    let mut results = Vec::new();
    for &id in upload_ids {
        match client.efactura().status(id) {
            Ok(state) => {
                exit = worse(exit, state_exit(state));
                if global.json {
                    results.push(json!({ "upload_id": id, "state": state }));
                } else {
                    println!("upload {id}: {}", state_text(state));
                }
            }
            Err(error) => {
                exit = worse(exit, failure::exit_for(&error));
                if global.json {
                    results.push(json!({ "upload_id": id, "error": error }));
                } else {
                    let (what, next) = Failure::Anaf(error).explain();
                    println!("upload {id}: {} {what}", paint(BAD, "failed:"));
                    if let Some(next) = next {
                        println!("  {} {next}", paint(WARN, "what to do:"));
                    }
                }
            }
        }
    }
    if global.json {
        output::json(&json!({ "statuses": results }));
    }
    Ok(exit)
}

fn download(global: &Global, client: &blocking::Client, args: &DownloadArgs) -> Result<Exit, Failure> {
    let bar = output::bar(args.download_ids.len() as u64, "downloading");
    let mut results = Vec::new();
    let mut exit = Exit::Ok;
    for &id in &args.download_ids {
        let archive = match client.efactura().download(id) {
            Ok(archive) => archive,
            Err(error) => {
                bar.inc(1);
                exit = worse(exit, failure::exit_for(&error));
                if global.json {
                    results.push(json!({ "download_id": id, "error": error }));
                } else {
                    let (what, next) = Failure::Anaf(error).explain();
                    bar.suspend(|| {
                        println!("{id}: {} {what}", paint(BAD, "failed:"));
                        if let Some(next) = next {
                            println!("  {} {next}", paint(WARN, "what to do:"));
                        }
                    });
                }
                continue;
            }
        };
        let zip_path = args.out.join(format!("{id}.zip"));
        write(&zip_path, archive.zip_bytes())?;
        let mut saved = vec![zip_path.display().to_string()];
        let report = archive.error_report()?;
        let summary = archive.invoice_summary()?;
        if args.extract {
            let dir = args.out.join(id.to_string());
            for (name, bytes) in [
                (archive.document_name(), archive.document()?),
                (archive.signature_name(), archive.signature()?),
            ] {
                // The names come from ANAF's ZIP: keep only the last component.
                let file_name = Path::new(name)
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| name.into());
                let path = dir.join(file_name);
                write(&path, &bytes)?;
                saved.push(path.display().to_string());
            }
        }
        if args.pdf && report.is_none() {
            let kind = match summary.as_ref().map(|s| s.syntax.as_str()) {
                Some("ubl_credit_note") => DocumentType::CreditNote,
                _ => DocumentType::Invoice,
            };
            match client.efactura().to_pdf(archive.document()?, kind, false)? {
                PdfOutcome::Pdf(pdf) => {
                    let path = args.out.join(format!("{id}.pdf"));
                    write(&path, &pdf)?;
                    saved.push(path.display().to_string());
                }
                PdfOutcome::Invalid(report) => {
                    bar.suspend(|| {
                        println!(
                            "{id}: no PDF, ANAF's validator refused the invoice: {:?}",
                            report.messages
                        )
                    });
                }
                _ => {}
            }
        }
        bar.inc(1);
        if global.json {
            results.push(
                json!({ "download_id": id, "upload_id": archive.upload_id(), "files": saved, "error_report": report }),
            );
        } else {
            bar.suspend(|| {
                match &report {
                    Some(report) => {
                        println!("{id}: ANAF's error document (the upload was refused):");
                        for message in &report.messages {
                            println!("  {} {message}", paint(BAD, "-"));
                        }
                    }
                    None => {
                        println!("{id}: {} {}", paint(GOOD, "invoice"), archive.document_name());
                        if let Some(summary) = &summary {
                            print_summary(summary);
                        }
                    }
                }
                println!("  saved {}", saved.join(", "));
            });
        }
    }
    bar.finish_and_clear();
    if global.json {
        output::json(&json!({ "downloads": results }));
    }
    Ok(exit)
}

/// The invoice's main fields, as `label: value` lines.
fn print_summary(summary: &InvoiceSummary) {
    let party = |p: &anaf_core::efactura::PartySummary| {
        let name = p.name.clone().unwrap_or_else(|| "?".into());
        match p.vat_id.as_ref().or(p.legal_id.as_ref()) {
            Some(id) => format!("{name} ({id})"),
            None => name,
        }
    };
    let amount = |value: &Option<String>| {
        let currency = summary.currency.as_deref().unwrap_or_default();
        value
            .as_ref()
            .map_or_else(|| "-".to_owned(), |v| format!("{v} {currency}"))
    };
    let day = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "-".to_owned(), |d| d.to_string());
    output::fields(&[
        ("number", summary.number.clone().unwrap_or_else(|| "-".into())),
        ("issued", day(summary.issue_date)),
        ("due", day(summary.due_date)),
        ("seller", party(&summary.seller)),
        ("buyer", party(&summary.buyer)),
        ("without VAT", amount(&summary.net_total)),
        ("VAT", amount(&summary.vat_total)),
        ("to pay", amount(&summary.payable)),
        ("lines", summary.lines.to_string()),
    ]);
}

/// A day in Romanian time: its start, or (`end`) its last millisecond.
pub(crate) fn bucharest_day(text: &str, end: bool) -> Result<DateTime<Utc>, Failure> {
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Failure::usage(format!("`{text}` is not a day (YYYY-MM-DD)"), None))?;
    let time = if end {
        day.and_hms_milli_opt(23, 59, 59, 999)
    } else {
        day.and_hms_opt(0, 0, 0)
    }
    .ok_or_else(|| Failure::usage(format!("`{text}` is not a day"), None))?;
    chrono_tz::Europe::Bucharest
        .from_local_datetime(&time)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Failure::usage(format!("`{text}` does not exist in Romanian time"), None))
}

fn list(global: &Global, client: &blocking::Client, args: &ListArgs) -> Result<Exit, Failure> {
    let filter = args.filter.as_deref().map(parsed::<MessageFilter>).transpose()?;
    let (messages, pages) = match &args.from {
        None => {
            let days = args.days.unwrap_or(60);
            let spinner = output::spinner(format!("listing the last {days} days"));
            let messages = client.efactura().list_messages(&args.cif, days, filter);
            spinner.finish_and_clear();
            let messages = messages.map_err(|error| match error.field() {
                // ANAF's simple list stops at 500 messages.
                Some("zile") if error.kind() == anaf_core::ErrorKind::InvalidInput => {
                    let from = (Utc::now() - chrono::Duration::days(i64::from(days))).format("%Y-%m-%d");
                    Failure::AnafNext(error, format!("list them by pages: `--from {from} --all`"))
                }
                _ => Failure::Anaf(error),
            })?;
            (messages, None)
        }
        Some(from) => {
            let start = bucharest_day(from, false)?;
            let end = match &args.to {
                Some(to) => bucharest_day(to, true)?.min(Utc::now()),
                None => Utc::now(),
            };
            let first = client.efactura().list_messages_page(&args.cif, start, end, 1, filter)?;
            let total_pages = first.total_pages;
            let total_messages = first.total_messages;
            let mut messages = first.messages;
            if args.all && total_pages > 1 {
                let bar = output::bar(u64::from(total_pages), "pages");
                bar.inc(1);
                for page in 2..=total_pages {
                    let next = client
                        .efactura()
                        .list_messages_page(&args.cif, start, end, page, filter)?;
                    messages.extend(next.messages);
                    bar.inc(1);
                }
                bar.finish_and_clear();
            }
            (messages, Some((total_pages, total_messages)))
        }
    };
    if global.json {
        let mut document = json!({ "messages": messages });
        if let Some((total_pages, total_messages)) = pages {
            document["total_pages"] = json!(total_pages);
            document["total_messages"] = json!(total_messages);
            document["pages_read"] = json!(if args.all { total_pages } else { total_pages.min(1) });
        }
        output::json(&document);
        return Ok(Exit::Ok);
    }
    if messages.is_empty() {
        println!("no messages");
    } else {
        let rows: Vec<Vec<String>> = messages
            .iter()
            .map(|m| {
                vec![
                    m.id.to_string(),
                    m.upload_id.to_string(),
                    m.created_at
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| m.raw_created_at.clone()),
                    m.kind.code().to_owned(),
                    m.cif.clone(),
                    m.details.clone(),
                ]
            })
            .collect();
        output::table(
            &["DOWNLOAD ID", "UPLOAD ID", "CREATED", "KIND", "CIF", "DETAILS"],
            &rows,
        );
    }
    if let Some((total_pages, total_messages)) = pages
        && !args.all
        && total_pages > 1
    {
        println!("page 1 of {total_pages} ({total_messages} messages): add --all for every page");
    }
    Ok(Exit::Ok)
}

fn validate(global: &Global, client: &blocking::Client, file: &Path, kind: &str) -> Result<Exit, Failure> {
    let report = client.efactura().validate(read(file)?, parsed::<DocumentType>(kind)?)?;
    if global.json {
        output::json(&report);
    } else if report.valid {
        println!("{}: {}", file.display(), paint(GOOD, "valid"));
    } else {
        println!("{}: {}", file.display(), paint(BAD, "not valid"));
        for message in &report.messages {
            println!("  {} {message}", paint(BAD, "-"));
        }
    }
    Ok(if report.valid { Exit::Ok } else { Exit::Refused })
}

fn pdf(
    global: &Global,
    client: &blocking::Client,
    file: &Path,
    kind: &str,
    out: Option<PathBuf>,
    validate: bool,
) -> Result<Exit, Failure> {
    let outcome = client
        .efactura()
        .to_pdf(read(file)?, parsed::<DocumentType>(kind)?, validate)?;
    match outcome {
        PdfOutcome::Pdf(bytes) => {
            let path = out.unwrap_or_else(|| file.with_extension("pdf"));
            write(&path, &bytes)?;
            if global.json {
                output::json(&json!({ "pdf": path, "bytes": bytes.len() }));
            } else {
                println!("{} {} ({} bytes)", paint(GOOD, "saved"), path.display(), bytes.len());
            }
            Ok(Exit::Ok)
        }
        PdfOutcome::Invalid(report) => {
            if global.json {
                output::json(&json!({ "invalid": report }));
            } else {
                println!("{}: ANAF's validator refused it, no PDF:", paint(BAD, "not valid"));
                for message in &report.messages {
                    println!("  {} {message}", paint(BAD, "-"));
                }
            }
            Ok(Exit::Refused)
        }
        _ => Err(Failure::Other(
            "ANAF answered the PDF request with something new".into(),
        )),
    }
}

fn verify(global: &Global, client: &blocking::Client, invoice: &Path, signature: &Path) -> Result<Exit, Failure> {
    let verdict = client.efactura().verify_signature(read(invoice)?, read(signature)?)?;
    if global.json {
        output::json(&verdict);
    } else if verdict.valid {
        println!("{}: {}", paint(GOOD, "signature valid"), verdict.message);
    } else {
        println!("{}: {}", paint(BAD, "signature NOT valid"), verdict.message);
    }
    Ok(if verdict.valid { Exit::Ok } else { Exit::Refused })
}

fn open(global: &Global, client: &blocking::Client, zip: &Path, check: bool) -> Result<Exit, Failure> {
    let archive = Archive::open(zip)?;
    let report = archive.error_report()?;
    let summary = archive.invoice_summary()?;
    let document = archive.document()?;
    let verdict = if check {
        Some(
            client
                .efactura()
                .verify_signature(document.clone(), archive.signature()?)?,
        )
    } else {
        None
    };
    if global.json {
        output::json(&json!({
            "zip": zip,
            "upload_id": archive.upload_id(),
            "document": archive.document_name(),
            "document_bytes": document.len(),
            "signature": archive.signature_name(),
            "invoice": summary,
            "error_report": report,
            "signature_check": verdict,
        }));
    } else {
        output::fields(&[
            ("ZIP", zip.display().to_string()),
            (
                "upload",
                archive
                    .upload_id()
                    .map_or_else(|| "unknown".into(), |id| id.to_string()),
            ),
            (
                "document",
                format!("{} ({} bytes)", archive.document_name(), document.len()),
            ),
            ("signature", archive.signature_name().to_owned()),
        ]);
        match &report {
            Some(report) => {
                println!("ANAF refused the upload:");
                for message in &report.messages {
                    println!("  {} {message}", paint(BAD, "-"));
                }
            }
            None => println!("an invoice ANAF accepted and signed"),
        }
        if let Some(summary) = &summary {
            print_summary(summary);
        }
        if let Some(verdict) = &verdict {
            let text = if verdict.valid {
                paint(GOOD, "signature valid")
            } else {
                paint(BAD, "signature NOT valid")
            };
            println!("{text}: {}", verdict.message);
        }
    }
    Ok(match (&report, &verdict) {
        (Some(_), _) => Exit::Refused,
        (_, Some(v)) if !v.valid => Exit::Refused,
        _ => Exit::Ok,
    })
}
