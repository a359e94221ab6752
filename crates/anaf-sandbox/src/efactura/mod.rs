//! RO e-Factura (`/{test|prod}/FCTEL/rest/...`): upload, processing into `ok`/`nok`, status,
//! the two message lists, downloads, and the public validation, PDF and signature services.

pub mod archive;
pub mod invoice;
pub mod pdf;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::body::{MB, read_capped};
use crate::clock::{date_stamp, minute_stamp, text_stamp};
use crate::envelopes::{
    eroare, error_document, json_200, spring_400, spring_404, status_error, status_state, support_id, upload_error,
    upload_ok, validation_report, waf_page,
};
use crate::extract::AnafEnv;
use crate::limits::Scope;
use crate::model::{Env, Service, UploadRecord};
use crate::oauth::param;
use crate::state::{Caller, CifDenial, Shared, State as SandboxState};
use crate::xml;
use invoice::{Standard, Summary, business_errors, root_mismatch, seller_unknown_error, summarize};

type Params = Vec<(String, String)>;

const UPLOAD_LIMIT: usize = 10 * MB;
const VALIDATION_LIMIT: usize = 5 * MB;
const PAGE_SIZE: usize = 500;
const LIST_TITLE: &str = "Lista Mesaje";
const DOWNLOAD_TITLE: &str = "Descarcare mesaj";

/// What processing concluded about an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Nok(Vec<String>),
    /// `XML cu erori nepreluat de sistem`: well-formed, right root, but nothing ANAF can read
    /// in it (the sandbox's trigger: a root element without any child element).
    RejectedXml,
}

#[derive(Clone, Debug)]
pub(crate) struct Upload {
    pub index: u64,
    pub received_at: DateTime<Utc>,
    /// When `stareMesaj` stops saying `in prelucrare`.
    pub final_at: DateTime<Utc>,
    pub cif: String,
    pub standard: Standard,
    pub b2c: bool,
    /// The document as received; empty once evicted to keep within
    /// `SandboxOptions::max_stored_bytes` (see `evicted`).
    pub body: Bytes,
    /// The size of the document as received.
    pub size: usize,
    /// Whether `body` was dropped to keep the stored bytes within the configured total.
    pub evicted: bool,
    /// Hex SHA-256 of `body`, computed once on arrival.
    pub sha256: String,
    pub summary: Option<Summary>,
    pub outcome: Outcome,
    pub download_id: Option<u64>,
    /// CIFs whose rights allow querying this upload's state.
    pub parties: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub id: u64,
    pub upload_index: u64,
    pub tip: &'static str,
    pub detalii: String,
    pub created_at: DateTime<Utc>,
    /// `data_creare`, formatted once (lists print it for every message of every call).
    pub created_stamp: String,
}

#[derive(Clone, Debug)]
pub(crate) enum Payload {
    /// The uploaded document itself (ok invoices, RASP messages).
    Original,
    /// ANAF's error document, for `nok`.
    Errors { cif: String, messages: Vec<String> },
}

#[derive(Clone, Debug)]
pub(crate) struct Download {
    pub upload_index: u64,
    pub available_at: DateTime<Utc>,
    pub owners: Vec<String>,
    pub payload: Payload,
}

/// What makes two invoices the same for ANAF: environment, seller CIF, number, issue date.
type InvoiceKey = (Env, String, String, String);

#[derive(Debug, Default)]
pub(crate) struct Store {
    last_upload: u64,
    last_download: u64,
    pub uploads: BTreeMap<(Env, u64), Upload>,
    /// Message lists by (environment, CIF whose list it is).
    messages: BTreeMap<(Env, String), Vec<Message>>,
    downloads: HashMap<(Env, u64), Download>,
    /// Accepted invoices, for the duplicate check: the upload index and time of each.
    accepted: HashMap<InvoiceKey, (u64, DateTime<Utc>)>,
}

impl Store {
    fn next_upload(&mut self) -> u64 {
        // Upload indexes look like ANAF's: 10 digits, beyond 2^31.
        self.last_upload = self.last_upload.max(5_000_000_000) + 1;
        self.last_upload
    }

    fn next_download(&mut self) -> u64 {
        self.last_download = self.last_download.max(3_000_000_000) + 1;
        self.last_download
    }

    fn post(&mut self, env: Env, cif: &str, message: Message) {
        self.messages.entry((env, cif.to_owned())).or_default().push(message);
    }

    pub fn records(&self, cif: Option<&str>, now: DateTime<Utc>) -> Vec<UploadRecord> {
        self.uploads
            .iter()
            .filter(|(_, u)| cif.is_none_or(|c| u.cif == c))
            .map(|((env, _), u)| UploadRecord {
                env: *env,
                service: Service::EFactura,
                upload_id: u.index,
                cif: u.cif.clone(),
                standard: u.standard.as_str().to_owned(),
                b2c: u.b2c,
                size: u.size,
                evicted: u.evicted,
                sha256: u.sha256.clone(),
                received_at: u.received_at,
                document_number: u.summary.as_ref().and_then(|s| s.number.clone()),
                uit: None,
                state: state_text(u, now).to_owned(),
            })
            .collect()
    }
}

fn state_text(upload: &Upload, now: DateTime<Utc>) -> &'static str {
    if now < upload.final_at {
        return "in prelucrare";
    }
    match upload.outcome {
        Outcome::Ok => "ok",
        Outcome::Nok(_) => "nok",
        Outcome::RejectedXml => "XML cu erori nepreluat de sistem",
    }
}

/// Upload flags besides `standard` and `cif`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Flags {
    pub external: bool,
    pub self_billed: bool,
    pub enforcement: bool,
    pub b2c: bool,
}

/// An upload that passed the synchronous checks.
pub(crate) struct Received<'a> {
    pub env: Env,
    pub cif: &'a str,
    pub standard: Standard,
    pub flags: Flags,
    pub body: Bytes,
    pub sha256: String,
    pub at: DateTime<Utc>,
    /// What ANAF reads from an invoice and the rules it fails, computed before taking the
    /// sandbox lock (parsing 10 MB is not done while every other request waits).
    pub invoice: Option<(Summary, Vec<String>)>,
    /// For a RASP message: the `index_incarcare` it answers.
    pub rasp_reference: Option<u64>,
}

/// The accepted document, processed. The outcome is decided at once (uploads are processed in
/// arrival order, so "earlier upload" for the duplicate check is well defined) and revealed
/// when the processing delay has passed.
pub(crate) fn accept(state: &mut SandboxState, shared: &Shared, received: Received<'_>) -> u64 {
    let Received {
        env,
        cif,
        standard,
        flags,
        body,
        sha256,
        at: received_at,
        invoice,
        rasp_reference,
    } = received;
    let index = state.efactura.next_upload();
    let final_at = received_at + chrono::Duration::from_std(shared.options.processing_delay).unwrap_or_default();
    let listed_at = final_at + chrono::Duration::from_std(shared.options.indexing_lag).unwrap_or_default();
    let mut upload = Upload {
        index,
        received_at,
        final_at,
        cif: cif.to_owned(),
        standard,
        b2c: flags.b2c,
        size: body.len(),
        evicted: false,
        body,
        sha256,
        summary: None,
        outcome: Outcome::Ok,
        download_id: None,
        parties: vec![cif.to_owned()],
    };
    match invoice {
        _ if standard == Standard::Rasp => accept_rasp(state, env, &mut upload, rasp_reference, listed_at),
        Some((summary, errors)) => accept_invoice(state, env, &mut upload, flags, summary, errors, listed_at),
        None => upload.outcome = Outcome::RejectedXml,
    }
    let size = upload.size;
    state.efactura.uploads.insert((env, index), upload);
    state.remember_body(
        crate::state::BodyKey::Efactura(env, index),
        size,
        shared.options.max_stored_bytes,
    );
    index
}

fn accept_invoice(
    state: &mut SandboxState,
    env: Env,
    upload: &mut Upload,
    flags: Flags,
    summary: Summary,
    mut errors: Vec<String>,
    listed_at: DateTime<Utc>,
) {
    let index = upload.index;
    // A seller whose CIF fails its control digit cannot be identified: errors go to `cif`.
    let seller = summary
        .seller
        .romanian_cif()
        .map(|(cif, _)| cif)
        .filter(|c| crate::codes::cif_is_valid(c));
    let buyer = summary.buyer.romanian_cif().map(|(cif, _)| cif);
    if errors.is_empty()
        && let Some(seller) = &seller
        && !state.company_known(seller)
    {
        errors.push(seller_unknown_error(seller));
    }
    if errors.is_empty()
        && let (Some(seller), Some(number), Some(date)) = (&seller, &summary.number, &summary.issue_date)
    {
        let key = (env, seller.clone(), number.clone(), date.clone());
        if let Some((earlier, at)) = state.efactura.accepted.get(&key) {
            errors.push(format!(
                "Factura a mai fost transmisa anterior cu index={earlier} si data incarcare={}",
                date_stamp(*at)
            ));
        }
    }
    let download_id = state.efactura.next_download();
    upload.download_id = Some(download_id);
    let seller_or_param = seller.clone().unwrap_or_else(|| upload.cif.clone());
    if errors.is_empty() {
        let buyer_id = buyer
            .clone()
            .or_else(|| summary.buyer.identifier().map(str::to_owned))
            .unwrap_or_default();
        let detalii = if flags.self_billed {
            format!(
                "Factura cu id_incarcare={index} transmisa de cif={}  ca autofactura in numele cif={seller_or_param}",
                upload.cif
            )
        } else {
            format!(
                "Factura cu id_incarcare={index} emisa de cif_emitent={seller_or_param} pentru cif_beneficiar={buyer_id}"
            )
        };
        let message = |tip| Message {
            id: download_id,
            upload_index: index,
            tip,
            detalii: detalii.clone(),
            created_at: listed_at,
            created_stamp: minute_stamp(listed_at),
        };
        // Self-billing: the buyer sends on the seller's behalf, so the sender's list is the
        // buyer's and the seller receives the invoice.
        let sender = if flags.self_billed {
            upload.cif.clone()
        } else {
            seller_or_param.clone()
        };
        state.efactura.post(env, &sender, message("FACTURA TRIMISA"));
        let mut owners = vec![sender.clone(), upload.cif.clone()];
        let receiver = if flags.self_billed {
            Some(seller_or_param.clone())
        } else if flags.b2c || flags.external {
            None
        } else {
            buyer.clone().filter(|b| state.company_known(b))
        };
        if let Some(receiver) = receiver {
            state.efactura.post(env, &receiver, message("FACTURA PRIMITA"));
            owners.push(receiver);
        }
        owners.dedup();
        upload.parties.extend(owners.iter().cloned());
        if let (Some(seller), Some(number), Some(date)) = (&seller, &summary.number, &summary.issue_date) {
            state.efactura.accepted.insert(
                (env, seller.clone(), number.clone(), date.clone()),
                (index, upload.received_at),
            );
        }
        state.efactura.downloads.insert(
            (env, download_id),
            Download {
                upload_index: index,
                available_at: upload.final_at,
                owners,
                payload: Payload::Original,
            },
        );
    } else {
        let detalii = if flags.self_billed {
            format!(
                "Erori de validare identificate la factura de tip declarat=AUTOFACTURA, transmisa cu id_incarcare={index}"
            )
        } else {
            format!("Erori de validare identificate la factura primita cu id_incarcare={index}")
        };
        state.efactura.post(
            env,
            &seller_or_param,
            Message {
                id: download_id,
                upload_index: index,
                tip: "ERORI FACTURA",
                detalii,
                created_at: listed_at,
                created_stamp: minute_stamp(listed_at),
            },
        );
        let owners = vec![seller_or_param.clone(), upload.cif.clone()];
        upload.parties.extend(owners.iter().cloned());
        state.efactura.downloads.insert(
            (env, download_id),
            Download {
                upload_index: index,
                available_at: upload.final_at,
                owners,
                payload: Payload::Errors {
                    cif: seller_or_param,
                    messages: errors.clone(),
                },
            },
        );
        upload.outcome = Outcome::Nok(errors);
    }
    // The lines served the rules; a stored upload keeps only their count.
    let mut summary = summary;
    summary.lines = Vec::new();
    upload.summary = Some(summary);
}

fn accept_rasp(
    state: &mut SandboxState,
    env: Env,
    upload: &mut Upload,
    referenced: Option<u64>,
    listed_at: DateTime<Utc>,
) {
    let invoice = referenced
        .and_then(|i| state.efactura.uploads.get(&(env, i)))
        .filter(|u| u.outcome == Outcome::Ok);
    let invoice_seller = invoice
        .and_then(|u| u.summary.as_ref())
        .filter(|s| s.buyer.romanian_cif().map(|(c, _)| c).as_deref() == Some(upload.cif.as_str()))
        .and_then(|s| s.seller.romanian_cif().map(|(c, _)| c));
    let index = upload.index;
    let download_id = state.efactura.next_download();
    upload.download_id = Some(download_id);
    let reference = referenced.map(|r| r.to_string()).unwrap_or_else(|| "?".into());
    let Some(seller) = invoice_seller else {
        let errors = vec![format!(
            "Mesajul de tip RASP se refera la index_incarcare={reference}, care nu este o factura primita de CIF={}",
            upload.cif
        )];
        state.efactura.post(
            env,
            &upload.cif,
            Message {
                id: download_id,
                upload_index: index,
                tip: "ERORI FACTURA",
                detalii: format!("Erori de validare identificate la mesajul primit cu id_incarcare={index}"),
                created_at: listed_at,
                created_stamp: minute_stamp(listed_at),
            },
        );
        state.efactura.downloads.insert(
            (env, download_id),
            Download {
                upload_index: index,
                available_at: upload.final_at,
                owners: vec![upload.cif.clone()],
                payload: Payload::Errors {
                    cif: upload.cif.clone(),
                    messages: errors.clone(),
                },
            },
        );
        upload.outcome = Outcome::Nok(errors);
        return;
    };
    let message = |tip, detalii| Message {
        id: download_id,
        upload_index: index,
        tip,
        detalii,
        created_at: listed_at,
        created_stamp: minute_stamp(listed_at),
    };
    state.efactura.post(
        env,
        &upload.cif,
        message(
            "MESAJ CUMPARATOR TRANSMIS",
            format!(
                "Mesaj cumparator transmis de cif={} pentru factura cu id_incarcare={reference}",
                upload.cif
            ),
        ),
    );
    state.efactura.post(
        env,
        &seller,
        message(
            "MESAJ CUMPARATOR PRIMIT",
            format!(
                "Mesaj cumparator primit de la cif={} pentru factura cu id_incarcare={reference}",
                upload.cif
            ),
        ),
    );
    upload.parties.push(seller.clone());
    state.efactura.downloads.insert(
        (env, download_id),
        Download {
            upload_index: index,
            available_at: upload.final_at,
            owners: vec![upload.cif.clone(), seller],
            payload: Payload::Original,
        },
    );
}

fn cif_is_number(cif: &str) -> bool {
    !cif.is_empty() && cif.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) async fn upload(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
    body: Body,
) -> Response {
    handle_upload(&shared, env, &caller, &params, body, false).await
}

pub(crate) async fn upload_b2c(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
    body: Body,
) -> Response {
    handle_upload(&shared, env, &caller, &params, body, true).await
}

async fn handle_upload(
    shared: &Shared,
    env: Env,
    caller: &Caller,
    params: &[(String, String)],
    body: Body,
    b2c: bool,
) -> Response {
    let now = shared.now();
    let (Some(standard), Some(cif)) = (param(params, "standard"), param(params, "cif")) else {
        return spring_400(now, "Parametrii standard si cif sunt obligatorii");
    };
    let Ok(body) = read_capped(body, UPLOAD_LIMIT).await else {
        return spring_400(now, "Trebuie sa aveti atasat in request un fisier de tip xml");
    };
    if body.total == 0 {
        return spring_400(now, "Trebuie sa aveti atasat in request un fisier de tip xml");
    }
    let Some(standard) = Standard::parse(standard) else {
        return upload_error(
            now,
            "Valorile acceptate pentru parametrul standard sunt UBL, CN, CII sau RASP",
        );
    };
    if body.too_large(UPLOAD_LIMIT) {
        return upload_error(now, "Marime fisier transmis mai mare de 10 MB.");
    }
    if !cif_is_number(cif) {
        return upload_error(now, &format!("CIF introdus= {cif} nu este un numar"));
    }
    let mut flags = Flags {
        b2c,
        ..Flags::default()
    };
    for (name, label, flag) in [
        ("extern", "extern", &mut flags.external),
        ("autofactura", "autofacturare", &mut flags.self_billed),
        ("executare", "executare", &mut flags.enforcement),
    ] {
        match param(params, name) {
            None => {}
            Some("DA") => *flag = true,
            Some(_) => {
                return upload_error(
                    now,
                    &format!("Daca parametrul {label} trebuie completat, valoarea acceptata este DA"),
                );
            }
        }
    }
    // The body is hashed, parsed and read before the sandbox lock is taken: 10 MB of XML is not
    // parsed while every other request waits.
    let sha256 = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body.bytes));
    // What the checks below need from the tree; the tree itself is gone before the lock.
    let mut invoice = None;
    let mut rasp_reference = None;
    let parsed = xml::parse(&body.bytes).map(|doc| {
        let root = doc.root();
        let mismatch = root_mismatch(root, standard.root());
        if standard == Standard::Rasp {
            rasp_reference = root.attr("index_incarcare").and_then(|v| v.trim().parse::<u64>().ok());
        } else if mismatch.is_none() && root.has_element_children() {
            let summary = summarize(root);
            let errors = business_errors(&summary);
            invoice = Some((summary, errors));
        }
        mismatch
    });
    let mut state = shared.lock();
    match state.cif_right(caller, cif) {
        Ok(()) => {}
        Err(CifDenial::NoneAtAll) => {
            return upload_error(now, "Nu exista niciun CIF pentru care sa aveti drept in SPV");
        }
        Err(CifDenial::NotThis) => return upload_error(now, &format!("Nu aveti drept in SPV pentru CIF={cif}")),
    }
    if flags.enforcement && !state.enforcement_register.contains(cif) {
        return upload_error(
            now,
            &format!("CIF introdus= {cif} nu este inregistrat in Registrul RO e-Factura executari silite"),
        );
    }
    let mismatch = match parsed {
        Ok(mismatch) => mismatch,
        Err(e) => return upload_error(now, &format!("Fisierul transmis nu este valid. {} ", e.sax_text())),
    };
    if let Some(problem) = mismatch {
        let (line, column) = root_position(&body.bytes);
        return upload_error(
            now,
            &format!(
                "Fisierul transmis nu este valid. org.xml.sax.SAXParseException; lineNumber: {line}; columnNumber: {column}; {problem} "
            ),
        );
    }
    if standard == Standard::Rasp {
        let limit = shared.options.daily_limits.efactura_rasp_uploads;
        if let Err(limit) = state
            .counters
            .take_daily(Scope::EfacturaRasp(env, cif.to_owned()), limit, now)
        {
            return upload_error(
                now,
                &format!("S-au incarcat deja {limit} de mesaje de tip RASP pentru cui={cif} in cursul zilei"),
            );
        }
    }
    let received = Received {
        env,
        cif,
        standard,
        flags,
        body: body.bytes,
        sha256,
        at: now,
        invoice,
        rasp_reference,
    };
    let index = accept(&mut state, shared, received);
    upload_ok(now, index)
}

/// Where Xerces reports a root-element problem: just after the root's start tag.
fn root_position(body: &[u8]) -> (usize, usize) {
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'<' && body.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_') {
            let end = body[i..]
                .iter()
                .position(|&b| b == b'>')
                .map_or(body.len(), |p| i + p + 1);
            let before = &body[..end];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            return (line, end - line_start + 1);
        }
        i += 1;
    }
    (1, 1)
}

pub(crate) async fn status(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> Response {
    let now = shared.now();
    let Some(raw) = param(&params, "id_incarcare") else {
        return spring_400(now, "Parametrul id_incarcare este obligatoriu");
    };
    let Ok(index) = raw.trim().parse::<u64>() else {
        return status_error(&format!("Id_incarcare introdus= {raw} nu este un numar intreg"));
    };
    let mut state = shared.lock();
    let cifs = state.caller_cifs(&caller);
    if cifs.is_empty() {
        return status_error("Nu exista niciun CIF petru care sa aveti drept");
    }
    let Some(upload) = state.efactura.uploads.get(&(env, index)) else {
        return status_error(&format!("Nu exista factura cu id_incarcare= {index}"));
    };
    if !upload.parties.iter().any(|p| cifs.contains(p)) {
        return status_error(&format!("Nu aveti dreptul de inteorgare pentru id_incarcare= {index}"));
    }
    let (stare, download_id) = (state_text(upload, now), upload.download_id);
    let limit = shared.options.daily_limits.efactura_status;
    if let Err(limit) = state.counters.take_daily(Scope::EfacturaStatus(env, index), limit, now) {
        return status_error(&format!("S-au facut deja {limit} descarcari de mesaj in cursul zilei"));
    }
    let download_id = if matches!(stare, "ok" | "nok") {
        download_id
    } else {
        None
    };
    status_state(stare, download_id)
}

/// `filtru`: which message kinds a list returns.
fn filter_matches(filter: Option<&str>, tip: &str) -> bool {
    match filter {
        None => true,
        Some("E") => tip == "ERORI FACTURA",
        Some("T") => tip == "FACTURA TRIMISA",
        Some("P") => tip == "FACTURA PRIMITA",
        Some("R") => tip.starts_with("MESAJ CUMPARATOR"),
        Some(_) => false,
    }
}

fn filter_valid(filter: Option<&str>) -> bool {
    matches!(filter, None | Some("E" | "T" | "P" | "R"))
}

fn message_json(cif: &str, m: &Message) -> Value {
    json!({
        "data_creare": m.created_stamp,
        "cif": cif,
        "id_solicitare": m.upload_index.to_string(),
        "detalii": m.detalii,
        "tip": m.tip,
        "id": m.id.to_string(),
    })
}

fn select<'a>(
    state: &'a SandboxState,
    env: Env,
    cif: &str,
    filter: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<&'a Message> {
    let mut found: Vec<&Message> = state
        .efactura
        .messages
        .get(&(env, cif.to_owned()))
        .map(|list| {
            list.iter()
                .filter(|m| m.created_at >= from && m.created_at <= to && filter_matches(filter, m.tip))
                .collect()
        })
        .unwrap_or_default();
    // Newest first, as ANAF's examples show.
    found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    found
}

/// What both lists check after their own parameters: the filter, the CIF right, the day's
/// budget (a refused call is not counted).
fn admit_list(
    state: &mut SandboxState,
    caller: &Caller,
    cif: &str,
    filter: Option<&str>,
    scope: Scope,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<(), Response> {
    if !filter_valid(filter) {
        return Err(eroare(
            "Valorile acceptate pentru parametrul filtru sunt E, T, P sau R",
            LIST_TITLE,
        ));
    }
    match state.cif_right(caller, cif) {
        Ok(()) => {}
        Err(CifDenial::NoneAtAll) => {
            return Err(eroare(
                "Nu exista niciun CIF pentru care sa aveti drept in SPV",
                LIST_TITLE,
            ));
        }
        Err(CifDenial::NotThis) => return Err(eroare(&format!("Nu aveti drept in SPV pentru CIF={cif}"), LIST_TITLE)),
    }
    state.counters.take_daily(scope, limit, now).map_err(|limit| {
        eroare(
            &format!("S-au facut deja {limit} interogari de lista mesaje de catre utilizator in cursul zilei"),
            LIST_TITLE,
        )
    })
}

pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> Response {
    let now = shared.now();
    let (Some(days), Some(cif)) = (param(&params, "zile"), param(&params, "cif")) else {
        return spring_400(now, "Parametrii zile si cif sunt obligatorii");
    };
    if !cif_is_number(cif) {
        return eroare(&format!("CIF introdus= {cif} nu este un numar"), LIST_TITLE);
    }
    let Ok(days_n) = days.trim().parse::<i64>() else {
        return eroare(
            &format!("Numarul de zile introdus= {days} nu este un numar intreg"),
            LIST_TITLE,
        );
    };
    if !(1..=60).contains(&days_n) {
        return eroare("Numarul de zile trebuie sa fie intre 1 si 60", LIST_TITLE);
    }
    let filter = param(&params, "filtru");
    let mut state = shared.lock();
    let scope = Scope::EfacturaList(env, cif.to_owned());
    if let Err(response) = admit_list(
        &mut state,
        &caller,
        cif,
        filter,
        scope,
        shared.options.daily_limits.efactura_list,
        now,
    ) {
        return response;
    }
    let found = select(&state, env, cif, filter, now - chrono::Duration::days(days_n), now);
    if found.len() > PAGE_SIZE {
        return eroare(
            "Lista de mesaje este mai mare decat numarul de 500 elemente permise in pagina. Folositi endpoint-ul cu paginatie.",
            LIST_TITLE,
        );
    }
    if found.is_empty() {
        return eroare(&format!("Nu exista mesaje in ultimele {days_n} zile"), LIST_TITLE);
    }
    let messages: Vec<Value> = found.iter().map(|m| message_json(cif, m)).collect();
    json_200(json!({
        "mesaje": messages,
        "serial": caller.serial,
        "cui": state.caller_cifs(&caller).join(","),
        "titlu": format!("Lista Mesaje disponibile din ultimele {days_n} zile"),
    }))
}

pub(crate) async fn list_paged(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> Response {
    let now = shared.now();
    let (Some(start), Some(end), Some(cif), Some(page)) = (
        param(&params, "startTime"),
        param(&params, "endTime"),
        param(&params, "cif"),
        param(&params, "pagina"),
    ) else {
        return spring_400(now, "Parametrii startTime, endTime, cif si pagina sunt obligatorii");
    };
    let bad = |name: &str, value: &str| {
        eroare(
            &format!("{name} = {value} nu este un numar sau nu are o valoare acceptata de sistem"),
            LIST_TITLE,
        )
    };
    if !cif_is_number(cif) {
        return eroare(
            &format!("CIF introdus= {cif} nu este un numar sau nu are o valoare acceptata de sistem"),
            LIST_TITLE,
        );
    }
    let millis = |v: &str| {
        v.trim()
            .parse::<i64>()
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
    };
    let Some(start_at) = millis(start) else {
        return bad("startTime", start);
    };
    let Some(end_at) = millis(end) else {
        return bad("endTime", end);
    };
    let Some(page_n) = page.trim().parse::<usize>().ok().filter(|p| *p >= 1) else {
        return bad("pagina", page);
    };
    if start_at < now - chrono::Duration::days(60) {
        return eroare(
            &format!(
                "startTime = {} nu poate fi mai vechi de 60 de zile fata de momentul requestului",
                text_stamp(start_at)
            ),
            LIST_TITLE,
        );
    }
    if end_at <= start_at {
        return eroare(
            &format!(
                "endTime = {} nu poate fi <= startTime = {}",
                text_stamp(end_at),
                text_stamp(start_at)
            ),
            LIST_TITLE,
        );
    }
    if end_at > now {
        return eroare(
            &format!(
                "endTime = {} nu poate in viitor fata de momentul requestului = {}",
                text_stamp(end_at),
                text_stamp(now)
            ),
            LIST_TITLE,
        );
    }
    let filter = param(&params, "filtru");
    let mut state = shared.lock();
    let scope = Scope::EfacturaListPaged(env, cif.to_owned());
    let limit = shared.options.daily_limits.efactura_list_paged;
    if let Err(response) = admit_list(&mut state, &caller, cif, filter, scope, limit, now) {
        return response;
    }
    let found = select(&state, env, cif, filter, start_at, end_at);
    if found.is_empty() {
        return eroare("Nu exista mesaje in intervalul selectat", LIST_TITLE);
    }
    let pages = found.len().div_ceil(PAGE_SIZE);
    if page_n > pages {
        return eroare(
            &format!("Pagina solicitata {page_n} este mai mare decat numarul toatal de pagini {pages}"),
            LIST_TITLE,
        );
    }
    let on_page: Vec<Value> = found
        .iter()
        .skip((page_n - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|m| message_json(cif, m))
        .collect();
    json_200(json!({
        "mesaje": on_page,
        "numar_inregistrari_in_pagina": on_page.len(),
        "numar_total_inregistrari_per_pagina": PAGE_SIZE,
        "numar_total_inregistrari": found.len(),
        "numar_total_pagini": pages,
        "index_pagina_curenta": page_n,
        "serial": caller.serial,
        "cui": state.caller_cifs(&caller).join(","),
        "titlu": format!("Lista Mesaje disponibile din intervalul {} - {}", text_stamp(start_at), text_stamp(end_at)),
    }))
}

pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Params>,
) -> Response {
    let now = shared.now();
    let Some(raw) = param(&params, "id") else {
        return spring_400(now, "Parametrul id este obligatoriu");
    };
    let Ok(id) = raw.trim().parse::<u64>() else {
        return eroare(
            &format!("Id descarcare introdus= {raw} nu este un numar intreg"),
            DOWNLOAD_TITLE,
        );
    };
    let mut state = shared.lock();
    let Some(download) = state
        .efactura
        .downloads
        .get(&(env, id))
        .filter(|d| d.available_at <= now)
        .cloned()
    else {
        return eroare(
            &format!("Pentru id={id} nu exista inregistrata nici o factura"),
            DOWNLOAD_TITLE,
        );
    };
    let cifs = state.caller_cifs(&caller);
    if !download.owners.iter().any(|o| cifs.contains(o)) {
        return eroare("Nu aveti dreptul sa descarcati acesta factura", DOWNLOAD_TITLE);
    }
    let retention = chrono::Duration::from_std(shared.options.retention).unwrap_or(chrono::Duration::days(60));
    if now > download.available_at + retention {
        return eroare(
            "Fisierul nu mai poate fi descarcat pentru ca a trecut perioada de 60 de zile in care este disponibil",
            DOWNLOAD_TITLE,
        );
    }
    // A document evicted to keep within `max_stored_bytes` is answered like one ANAF has no
    // file for (its state and messages stay).
    let evicted = matches!(download.payload, Payload::Original)
        && state
            .efactura
            .uploads
            .get(&(env, download.upload_index))
            .is_none_or(|u| u.evicted);
    if evicted {
        return eroare(
            &format!("Pentru id={id} nu exista inregistrata nici o factura"),
            DOWNLOAD_TITLE,
        );
    }
    let limit = shared.options.daily_limits.efactura_download;
    if let Err(limit) = state.counters.take_daily(Scope::EfacturaDownload(env, id), limit, now) {
        return eroare(
            &format!("S-au facut deja {limit} descarcari de mesaj in cursul zilei"),
            DOWNLOAD_TITLE,
        );
    }
    let Some(upload) = state.efactura.uploads.get(&(env, download.upload_index)) else {
        return eroare(
            &format!("Pentru id={id} nu exista inregistrata nici o factura"),
            DOWNLOAD_TITLE,
        );
    };
    let document: Bytes = match &download.payload {
        Payload::Original => upload.body.clone(),
        Payload::Errors { cif, messages } => Bytes::from(error_document(upload.index, cif, messages)),
    };
    let index = upload.index;
    drop(state);
    let signature = archive::sign(&document);
    let zip = archive::build_zip(index, &document, signature.as_bytes(), download.available_at);
    (
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.zip\""),
            ),
        ],
        zip,
    )
        .into_response()
}

/// Firewall signatures ANAF's F5 matches on the public host: a relative `xsi:schemaLocation`
/// (read as path traversal) and `;CP ` (read as a shell command).
pub(crate) fn waf_triggered(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    let relative_schema = text.match_indices("schemaLocation=").any(|(i, _)| {
        let rest = &text[i + "schemaLocation=".len()..];
        let mut chars = rest.chars();
        let quote = chars.next().unwrap_or('"');
        let value = chars.as_str().split(quote).next().unwrap_or_default();
        value
            .split_whitespace()
            .skip(1)
            .step_by(2)
            .any(|location| !location.contains("://"))
    });
    relative_schema || text.contains(";CP ")
}

/// What `validare` and `transformare` conclude about a body: the invoice when valid, or
/// ANAF's messages.
pub(crate) fn check_for_rendering(
    standard: &str,
    body: &crate::body::CappedBody,
    validate: bool,
) -> Result<Summary, Vec<String>> {
    let expected = match standard {
        "FACT1" => Standard::Ubl.root(),
        "FCN" => Standard::Cn.root(),
        _ => {
            return Err(vec![
                "Valorile acceptate pentru parametrul standard sunt FACT1 si FCN".into(),
            ]);
        }
    };
    if body.too_large(VALIDATION_LIMIT) {
        return Err(vec!["Marime fisier transmis mai mare de 5 MB.".into()]);
    }
    let doc =
        xml::parse(&body.bytes).map_err(|e| vec![format!("Fisierul transmis nu este valid. {} ", e.sax_text())])?;
    let root = doc.root();
    if let Some(problem) = root_mismatch(root, expected) {
        let (line, column) = root_position(&body.bytes);
        return Err(vec![format!(
            "Fisierul transmis nu este valid. org.xml.sax.SAXParseException; lineNumber: {line}; columnNumber: {column}; {problem} "
        )]);
    }
    let summary = summarize(root);
    if validate {
        let errors = business_errors(&summary);
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    Ok(summary)
}

/// `validare` and `transformare` exist on the production path only (the test path is 404).
fn prod_only(shared: &Shared, anaf_env: &AnafEnv) -> Result<(), Response> {
    match anaf_env.env {
        Env::Prod => Ok(()),
        Env::Test => Err(spring_404(shared.now(), &anaf_env.path)),
    }
}

pub(crate) async fn validate(
    State(shared): State<Arc<Shared>>,
    anaf_env: AnafEnv,
    Path((_, standard)): Path<(String, String)>,
    caller: Option<Extension<Caller>>,
    body: Body,
) -> Response {
    if let Err(response) = prod_only(&shared, &anaf_env) {
        return response;
    }
    let Ok(body) = read_capped(body, VALIDATION_LIMIT).await else {
        return validation_report(&["A aparut o eroare tehnica. Cod: 001".into()]);
    };
    if caller.is_none() && shared.options.waf_rules && waf_triggered(&body.bytes) {
        return waf_page(&support_id());
    }
    match check_for_rendering(&standard, &body, true) {
        Ok(_) => validation_report(&[]),
        Err(messages) => validation_report(&messages),
    }
}

pub(crate) async fn to_pdf(
    State(shared): State<Arc<Shared>>,
    anaf_env: AnafEnv,
    Path((_, standard)): Path<(String, String)>,
    caller: Option<Extension<Caller>>,
    body: Body,
) -> Response {
    render_pdf(&shared, &anaf_env, &standard, None, caller.is_some(), body).await
}

pub(crate) async fn to_pdf_novld(
    State(shared): State<Arc<Shared>>,
    anaf_env: AnafEnv,
    Path((_, standard, novld)): Path<(String, String, String)>,
    caller: Option<Extension<Caller>>,
    body: Body,
) -> Response {
    render_pdf(&shared, &anaf_env, &standard, Some(&novld), caller.is_some(), body).await
}

async fn render_pdf(
    shared: &Shared,
    anaf_env: &AnafEnv,
    standard: &str,
    novld: Option<&str>,
    authenticated: bool,
    body: Body,
) -> Response {
    if let Err(response) = prod_only(shared, anaf_env) {
        return response;
    }
    if novld.is_some_and(|n| n != "DA") {
        return spring_404(shared.now(), &anaf_env.path);
    }
    let Ok(body) = read_capped(body, VALIDATION_LIMIT).await else {
        return validation_report(&["A aparut o eroare tehnica. Cod: 001".into()]);
    };
    if !authenticated && shared.options.waf_rules && waf_triggered(&body.bytes) {
        return waf_page(&support_id());
    }
    let validate = novld.is_none();
    match check_for_rendering(standard, &body, validate) {
        Ok(summary) => (
            [(header::CONTENT_TYPE, "application/pdf")],
            pdf::render(&summary, validate),
        )
            .into_response(),
        Err(messages) => validation_report(&messages),
    }
}

const SIGNATURE_VALID: &str = "Fișierele încărcate au fost validate cu succes, din perspectiva autenticității semnăturii aplicate și a apartenenței acesteia la XML-ul ce reprezintă factura electronică. Documentul factură de tip XML cu semnătura de validare atașată, este considerat document original din perspectiva legislativă și este generat prin intermediul sistemului național RO e-Factura.";
const SIGNATURE_INVALID: &str = "Fișierele încărcate NU au putut fi validate cu succes, din perspectiva autenticității semnăturii aplicate și a apartenenței acesteia la XML-ul ce reprezintă factura electronică. Documentul factură de tip XML cu semnătura de validare atașată, NU poate fi considerat document original din perspectiva legislativă și NU este generat prin intermediul sistemului național RO e-Factura.";
const SIGNATURE_BAD_REQUEST: &str = "Eroare tehnică: request incorect. Cauza: cel puțin unul din documente NU a fost încărcat sau NU este un fisier de tip XML specific facturii electronice.";

pub(crate) async fn verify_signature(multipart: Result<Multipart, MultipartRejection>) -> Response {
    let bad_request = || {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"msg": SIGNATURE_BAD_REQUEST})),
        )
            .into_response()
    };
    let Ok(mut multipart) = multipart else {
        return bad_request();
    };
    let (mut file, mut signature) = (None, None);
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let Ok(bytes) = field.bytes().await else {
            return bad_request();
        };
        match name.as_str() {
            "file" => file = Some(bytes),
            "signature" => signature = Some(bytes),
            _ => {}
        }
    }
    let (Some(file), Some(signature)) = (file, signature) else {
        return bad_request();
    };
    let is_einvoice = xml::parse(&file).is_ok_and(|doc| {
        matches!(
            doc.root().name(),
            "Invoice" | "CreditNote" | "CrossIndustryInvoice" | "header"
        )
    });
    if !is_einvoice || xml::parse(&signature).is_err() {
        return bad_request();
    }
    // ANAF's answer says valid or not, nothing more (why not is `archive::verify`'s business).
    match archive::verify(&file, &signature) {
        Ok(()) => json_200(json!({"msg": SIGNATURE_VALID})),
        Err(_) => json_200(json!({"msg": SIGNATURE_INVALID})),
    }
}

/// Invoices from a supplier to `buyer_cif`, as if uploaded over the last `days_back` days (all
/// processed and listed), so lists, pagination and downloads can be exercised at volume. The
/// newest is a minute old: a client's list ends a few seconds before its "now".
pub(crate) fn seed_received(
    state: &mut SandboxState,
    now: DateTime<Utc>,
    request: &crate::admin::SeedRequest,
    supplier_cif: &str,
    max_stored_bytes: u64,
) -> Vec<u64> {
    let (env, buyer_cif, count, days_back) = (request.env, request.cif.as_str(), request.count, request.days_back);
    let span = chrono::Duration::days(i64::from(days_back));
    let newest = now - chrono::Duration::minutes(1);
    let mut indexes = Vec::with_capacity(count as usize);
    for n in 0..count {
        let at = if count <= 1 {
            newest
        } else {
            newest - span + span * (n as i32) / ((count - 1) as i32)
        };
        let mut spec = crate::samples::InvoiceSpec::new(
            &format!("SEED-{supplier_cif}-{}", state.efactura.last_upload + 1),
            supplier_cif,
            buyer_cif,
        );
        spec.issue_date = at.format("%Y-%m-%d").to_string();
        let xml_text = crate::samples::invoice_xml(&spec);
        let doc = xml::parse(xml_text.as_bytes()).expect("sample invoices are well-formed");
        let mut summary = summarize(doc.root());
        summary.lines = Vec::new();
        let sha256 = hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            xml_text.as_bytes(),
        ));
        let index = state.efactura.next_upload();
        let key = (
            env,
            supplier_cif.to_owned(),
            spec.number.clone(),
            spec.issue_date.clone(),
        );
        state.efactura.accepted.insert(key, (index, at));
        let download_id = state.efactura.next_download();
        let detalii = format!(
            "Factura cu id_incarcare={index} emisa de cif_emitent={supplier_cif} pentru cif_beneficiar={buyer_cif}"
        );
        for (cif, tip) in [(supplier_cif, "FACTURA TRIMISA"), (buyer_cif, "FACTURA PRIMITA")] {
            state.efactura.post(
                env,
                cif,
                Message {
                    id: download_id,
                    upload_index: index,
                    tip,
                    detalii: detalii.clone(),
                    created_at: at,
                    created_stamp: minute_stamp(at),
                },
            );
        }
        state.efactura.downloads.insert(
            (env, download_id),
            Download {
                upload_index: index,
                available_at: at,
                owners: vec![supplier_cif.to_owned(), buyer_cif.to_owned()],
                payload: Payload::Original,
            },
        );
        state.efactura.uploads.insert(
            (env, index),
            Upload {
                index,
                received_at: at,
                final_at: at,
                cif: supplier_cif.to_owned(),
                standard: Standard::Ubl,
                b2c: false,
                size: xml_text.len(),
                evicted: false,
                body: Bytes::from(xml_text),
                sha256,
                summary: Some(summary),
                outcome: Outcome::Ok,
                download_id: Some(download_id),
                parties: vec![supplier_cif.to_owned(), buyer_cif.to_owned()],
            },
        );
        let size = state.efactura.uploads[&(env, index)].size;
        state.remember_body(crate::state::BodyKey::Efactura(env, index), size, max_stored_bytes);
        indexes.push(index);
    }
    indexes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waf_rules_match_relative_schema_locations_and_cp() {
        assert!(waf_triggered(
            br#"<Invoice xsi:schemaLocation="urn:x ../../xsd/maindoc/UBL-Invoice-2.1.xsd">"#
        ));
        assert!(!waf_triggered(
            br#"<Invoice xsi:schemaLocation="urn:x http://example.org/x.xsd">"#
        ));
        assert!(waf_triggered(b"<Street>Bl. A;CP 12</Street>"));
        assert!(!waf_triggered(b"<Invoice/>"));
        // Ends, or continues with a multi-byte character, right after the attribute name.
        assert!(!waf_triggered(b"<a schemaLocation="));
        assert!(!waf_triggered("<a schemaLocation=\u{103}x>".as_bytes()));
    }

    #[test]
    fn root_position_points_after_the_root_start_tag() {
        assert_eq!(root_position(b"<?xml version=\"1.0\"?>\n<Invoice1 a=\"b\">"), (2, 17));
    }
}
