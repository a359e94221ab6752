//! RO e-Transport (`/{test|prod}/ETRANSPORT/ws/v1/...`): declarations (notification,
//! correction, deletion, confirmation, vehicle change) that get a UIT, their state, the list
//! and the transport-organiser info. Every answer is JSON.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::body::{MB, read_capped};
use crate::clock::{minute_stamp, second_stamp};
use crate::codes::{cif_is_valid, uit_for_sequence, uit_is_valid};
use crate::envelopes::{json_200, spring_400, spring_404};
use crate::extract::AnafEnv;
use crate::limits::Scope;
use crate::model::{Env, Service, UploadRecord};
use crate::oauth::param;
use crate::state::{Caller, CifDenial, Shared, State as SandboxState};
use crate::xml::{self, Element};

const SIZE_LIMIT: usize = 5 * MB;
const NS_V1: &str = "mfp:anaf:dgti:eTransport:declaratie:v1";
const NS_V2: &str = "mfp:anaf:dgti:eTransport:declaratie:v2";
const OPERATIONS: [&str; 4] = ["notificare", "stergere", "confirmare", "modifVehicul"];
const ATENTIE: &str = "Verificati starea XML-ului transmis. Codul UIT este valabil din momentul in care apare ca valid dupa apelul de stare";
const UIT_UNKNOWN: &str = "UIT-ul nu poate fi identificat.";

#[derive(Clone, Debug, Default)]
pub(crate) struct Place {
    pub county: String,
    pub locality: String,
    pub street: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Notification {
    corrects: Option<String>,
    kind: String,
    date: String,
    partner: (String, String, String),
    carrier: (String, String, String),
    vehicle: String,
    trailer: Option<String>,
    lines: usize,
    gross: f64,
    net: f64,
    value: f64,
    start: Place,
    end: Place,
    documents: Vec<(String, String, String)>,
}

#[derive(Clone, Debug)]
pub(crate) enum Operation {
    Notification(Box<Notification>),
    Deletion { uit: String },
    Confirmation { uit: String, kind: String },
    VehicleChange { uit: String, vehicle: String },
}

impl Operation {
    fn code(&self) -> &'static str {
        match self {
            Operation::Notification(n) if n.corrects.is_none() => "NOT",
            Operation::Notification(_) => "COR",
            Operation::Deletion { .. } => "DEL",
            Operation::Confirmation { .. } => "CON",
            Operation::VehicleChange { .. } => "MVH",
        }
    }

    fn target_uit(&self) -> Option<&str> {
        match self {
            Operation::Notification(n) => n.corrects.as_deref(),
            Operation::Deletion { uit }
            | Operation::Confirmation { uit, .. }
            | Operation::VehicleChange { uit, .. } => Some(uit),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Nok(Vec<String>),
}

#[derive(Clone, Debug)]
pub(crate) struct Declaration {
    pub index: u64,
    pub received_at: DateTime<Utc>,
    pub final_at: DateTime<Utc>,
    pub cif: String,
    pub declarant: String,
    pub reference: String,
    pub uit: String,
    /// The declaration as received; empty once evicted (see `evicted`).
    pub body: Bytes,
    pub size: usize,
    /// Whether `body` was dropped to keep within `SandboxOptions::max_stored_bytes`.
    pub evicted: bool,
    /// Hex SHA-256 of `body`, computed once on arrival.
    pub sha256: String,
    pub operation: Operation,
    pub outcome: Outcome,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    last_index: u64,
    pub declarations: BTreeMap<(Env, u64), Declaration>,
}

impl Store {
    pub fn records(&self, cif: Option<&str>, now: DateTime<Utc>) -> Vec<UploadRecord> {
        self.declarations
            .iter()
            .filter(|(_, d)| cif.is_none_or(|c| d.cif == c))
            .map(|((env, _), d)| UploadRecord {
                env: *env,
                service: Service::ETransport,
                upload_id: d.index,
                cif: d.cif.clone(),
                standard: "ETRANSP".into(),
                b2c: false,
                size: d.size,
                evicted: d.evicted,
                sha256: d.sha256.clone(),
                received_at: d.received_at,
                document_number: Some(d.reference.clone()).filter(|r| !r.is_empty()),
                uit: Some(d.uit.clone()),
                state: state_text(d, now).to_owned(),
            })
            .collect()
    }

    /// For each UIT still valid, the index of its current notification (one pass in upload
    /// order: a correction supersedes, a deletion ends).
    fn live_notifications(&self, env: Env, now: DateTime<Utc>) -> HashMap<&str, u64> {
        let mut live = HashMap::new();
        for ((e, _), d) in &self.declarations {
            if *e != env || d.final_at > now || d.outcome != Outcome::Ok {
                continue;
            }
            match &d.operation {
                Operation::Notification(_) => {
                    live.insert(d.uit.as_str(), d.index);
                }
                Operation::Deletion { uit } => {
                    live.remove(uit.as_str());
                }
                _ => {}
            }
        }
        live
    }

    /// The valid notification a UIT belongs to: accepted, processed, and neither deleted
    /// nor superseded.
    fn live_notification(&self, env: Env, uit: &str, now: DateTime<Utc>) -> Option<&Declaration> {
        let deleted = self.declarations.iter().any(|((e, _), d)| {
            *e == env
                && d.final_at <= now
                && d.outcome == Outcome::Ok
                && matches!(&d.operation, Operation::Deletion { uit: u } if u == uit)
        });
        if deleted {
            return None;
        }
        self.declarations
            .iter()
            .filter(|((e, _), d)| {
                *e == env
                    && d.uit == uit
                    && d.final_at <= now
                    && d.outcome == Outcome::Ok
                    && matches!(d.operation, Operation::Notification(_))
            })
            .map(|(_, d)| d)
            .next_back()
    }
}

fn state_text(d: &Declaration, now: DateTime<Utc>) -> &'static str {
    if now < d.final_at {
        "in prelucrare"
    } else if d.outcome == Outcome::Ok {
        "ok"
    } else {
        "nok"
    }
}

fn trace_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn errors(now: DateTime<Utc>, messages: &[String]) -> Response {
    let list: Vec<Value> = messages.iter().map(|m| json!({"errorMessage": m})).collect();
    json_200(json!({"Errors": list, "dateResponse": minute_stamp(now), "ExecutionStatus": 1, "trace_id": trace_id()}))
}

fn error(now: DateTime<Utc>, message: &str) -> Response {
    errors(now, &[message.to_owned()])
}

fn cif_is_number(cif: &str) -> bool {
    !cif.is_empty() && cif.len() <= 13 && cif.bytes().all(|b| b.is_ascii_digit())
}

fn rights(state: &SandboxState, caller: &Caller, cif: &str) -> Result<(), String> {
    match state.cif_right(caller, cif) {
        Ok(()) => Ok(()),
        Err(CifDenial::NoneAtAll) => Err("Nu exista niciun CIF petru care sa aveti drept in SPV".into()),
        Err(CifDenial::NotThis) => Err(format!("Nu aveti drept in SPV pentru CIF={cif}")),
    }
}

fn attr(el: Element<'_>, name: &str) -> String {
    el.attr(name).unwrap_or_default().trim().to_owned()
}

/// Xerces-worded schema checks: the part of the XSD that makes an upload fail at once.
fn schema_check(root: Element<'_>) -> Result<(), String> {
    let cvc = |text: String| Err(format!("cvc-complex-type.{text}"));
    if root.attr("codDeclarant").is_none() {
        return cvc("4: Attribute 'codDeclarant' must appear on element 'eTransport'.".into());
    }
    let operations: Vec<Element<'_>> = root.children().filter(|c| OPERATIONS.contains(&c.name())).collect();
    if operations.len() != 1 {
        return cvc(format!(
            "2.4.b: The content of element 'eTransport' is not complete. One of '{{\"{NS_V2}\":notificare, \"{NS_V2}\":stergere, \"{NS_V2}\":confirmare, \"{NS_V2}\":modifVehicul}}' is expected."
        ));
    }
    let op = operations[0];
    let required: &[(&str, &[&str])] = match op.name() {
        "notificare" => &[("notificare", &["codTipOperatiune"])],
        "stergere" => &[("stergere", &["uit"])],
        "confirmare" => &[("confirmare", &["uit", "tipConfirmare"])],
        _ => &[("modifVehicul", &["uit", "nrVehicul", "dataModificare"])],
    };
    for (element, attrs) in required {
        for a in *attrs {
            if op.attr(a).is_none() {
                return cvc(format!("4: Attribute '{a}' must appear on element '{element}'."));
            }
        }
    }
    if op.name() == "notificare" {
        for child in [
            "bunuriTransportate",
            "partenerComercial",
            "dateTransport",
            "locStartTraseuRutier",
            "locFinalTraseuRutier",
            "documenteTransport",
        ] {
            if op.child(child).is_none() {
                return cvc(format!(
                    "2.4.b: The content of element 'notificare' is not complete. One of '{{\"{NS_V2}\":{child}}}' is expected."
                ));
            }
        }
        let needs: [(&str, &[&str]); 4] = [
            (
                "bunuriTransportate",
                &[
                    "codScopOperatiune",
                    "denumireMarfa",
                    "cantitate",
                    "codUnitateMasura",
                    "greutateBruta",
                ],
            ),
            ("partenerComercial", &["codTara", "denumire"]),
            (
                "dateTransport",
                &[
                    "nrVehicul",
                    "codTaraOrgTransport",
                    "denumireOrgTransport",
                    "dataTransport",
                ],
            ),
            ("documenteTransport", &["tipDocument", "dataDocument"]),
        ];
        for (element, attrs) in needs {
            for el in op.children_named(element) {
                for a in attrs {
                    if el.attr(a).is_none() {
                        return cvc(format!("4: Attribute '{a}' must appear on element '{element}'."));
                    }
                }
            }
        }
        let dates = op
            .children_named("dateTransport")
            .filter_map(|e| e.attr("dataTransport"))
            .chain(
                op.children_named("documenteTransport")
                    .filter_map(|e| e.attr("dataDocument")),
            );
        for date in dates {
            if !is_xs_date(date) {
                return Err(format!(
                    "cvc-datatype-valid.1.2.1: '{date}' is not a valid value for 'date'."
                ));
            }
        }
    }
    Ok(())
}

/// `xs:date` as ANAF's declarations use it: `YYYY-MM-DD`.
fn is_xs_date(value: &str) -> bool {
    value.len() == 10 && chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
}

fn place(el: Option<Element<'_>>) -> Place {
    let loc = el.and_then(|e| e.child("locatie"));
    loc.map(|l| Place {
        county: attr(l, "codJudet"),
        locality: attr(l, "denumireLocalitate"),
        street: attr(l, "denumireStrada"),
    })
    .unwrap_or_default()
}

fn number(el: Element<'_>, name: &str) -> f64 {
    el.attr(name).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

fn read_operation(root: Element<'_>) -> Operation {
    let op = root
        .children()
        .find(|c| OPERATIONS.contains(&c.name()))
        .expect("schema_check found one");
    match op.name() {
        "stergere" => Operation::Deletion { uit: attr(op, "uit") },
        "confirmare" => Operation::Confirmation {
            uit: attr(op, "uit"),
            kind: attr(op, "tipConfirmare"),
        },
        "modifVehicul" => Operation::VehicleChange {
            uit: attr(op, "uit"),
            vehicle: attr(op, "nrVehicul"),
        },
        _ => {
            let goods: Vec<Element<'_>> = op.children_named("bunuriTransportate").collect();
            let partner = op.child("partenerComercial").expect("schema_check");
            let transport = op.child("dateTransport").expect("schema_check");
            Operation::Notification(Box::new(Notification {
                corrects: op.child("corectie").map(|c| attr(c, "uit")),
                kind: attr(op, "codTipOperatiune"),
                date: attr(transport, "dataTransport"),
                partner: (
                    attr(partner, "codTara"),
                    attr(partner, "cod"),
                    attr(partner, "denumire"),
                ),
                carrier: (
                    attr(transport, "codTaraOrgTransport"),
                    attr(transport, "codOrgTransport"),
                    attr(transport, "denumireOrgTransport"),
                ),
                vehicle: attr(transport, "nrVehicul"),
                trailer: transport.attr("nrRemorca1").map(str::to_owned),
                lines: goods.len(),
                gross: goods.iter().map(|g| number(*g, "greutateBruta")).sum(),
                net: goods.iter().map(|g| number(*g, "greutateNeta")).sum(),
                value: goods.iter().map(|g| number(*g, "valoareLeiFaraTva")).sum(),
                start: place(op.child("locStartTraseuRutier")),
                end: place(op.child("locFinalTraseuRutier")),
                documents: op
                    .children_named("documenteTransport")
                    .map(|d| {
                        (
                            attr(d, "tipDocument"),
                            attr(d, "numarDocument"),
                            attr(d, "dataDocument"),
                        )
                    })
                    .collect(),
            }))
        }
    }
}

fn ro_tin_or_pf(code: &str) -> bool {
    let digits = code.strip_prefix("RO").unwrap_or(code);
    code == "PF" || (digits.len() == 13 && digits.bytes().all(|b| b.is_ascii_digit())) || cif_is_valid(digits)
}

/// Schematron rules (ANAF's v2.0.2 texts) checked while processing.
fn business_errors(
    store: &Store,
    env: Env,
    declarant: &str,
    root: Element<'_>,
    op: &Operation,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let tin_ok = |c: &str| !c.is_empty() && !c.starts_with('0') && (c.len() == 13 || cif_is_valid(c));
    if !tin_ok(declarant) {
        errors.push(format!(
            "[BR-002]-Codul de identificare fiscala(CUI, CNP, NIF) al declarantului (BT-1) TREBUIE sa aibe un format valid in Romania(RO) (codDeclarant = {declarant})."
        ));
    }
    if let Some(flag) = root.attr("declPostAvarie").filter(|f| *f != "D") {
        errors.push(format!(
            "[BR-201]-Declarare post avarie sistem RO-eTransport poate avea doar valorea 'D' (declPostAvarie = {flag})."
        ));
    }
    if let Some(uit) = op.target_uit() {
        if !uit_is_valid(uit) {
            errors.push(format!(
                "[BR-019]-Identificatorul unic al transportului (BT-3, BT-52, BT-55 sau BT-56) TREBUIE sa respecte algoritmul de verificare a cifrei de control (uit = {uit})."
            ));
        } else if store
            .live_notification(env, uit, now)
            .is_none_or(|d| d.declarant != declarant)
        {
            errors.push(UIT_UNKNOWN.to_owned());
        }
    }
    if let Operation::Notification(notification) = op {
        let Notification {
            kind,
            partner,
            vehicle,
            gross,
            net,
            ..
        } = notification.as_ref();
        if kind == "30" && partner.0 != "RO" {
            errors.push(format!(
                "[BR-005]-Daca codul operatiunii(BT-4) este 30(Transport pe teritoriul national), atunci codul tarii partenerului comercial (BT-15) TREBUIE sa fie corespunzator Romaniei(RO) ({})."
                , partner.0
            ));
        }
        if kind == "30" && !ro_tin_or_pf(&partner.1) {
            errors.push("[BR-007]-Daca codul operatiunii(BT-4) este 30(Transport pe teritoriul national), atunci codul de identificare fiscala al partenerului comercial(BT-16) TREBUIE sa aibe un format valid in Romania(RO) sau, daca acest cod este necunoscut, valoarea 'PF'.".to_owned());
        }
        let plate_ok =
            (2..=20).contains(&vehicle.len()) && vehicle.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !plate_ok {
            errors.push("[BR-031]-Numar inmatriculare vehicul(BT-18, BT-61) TREBUIE sa aiba minim 2 caractere si maxim 20 de caractere. Sunt acceptate caractere alfabetice majuscule (A-Z) si caractere numerice(0-9).".to_owned());
        }
        if *gross <= 0.0 {
            errors.push(
                "[BR-029]-Greutatea bruta a bunului transportat(BT-12) TREBUIE sa fie strict mai mare decat 0(zero)."
                    .to_owned(),
            );
        } else if gross < net {
            errors.push(format!("[BR-020]-Greutatea bruta(BT-12) TREBUIE sa fie mai mare sau egala cu greutatea neta(BT-11) ({gross} < {net})."));
        }
        let op_el = root.child("notificare").expect("a notification");
        for (tag, rule, group) in [
            (
                "locStartTraseuRutier",
                "BR-210",
                "Locul de start al traseului rutier (BG-6)",
            ),
            (
                "locFinalTraseuRutier",
                "BR-211",
                "Locul de final al traseului rutier (BG-8)",
            ),
        ] {
            let Some(loc) = op_el.child(tag) else { continue };
            let given = usize::from(loc.child("locatie").is_some())
                + usize::from(loc.attr("codPtf").is_some())
                + usize::from(loc.attr("codBirouVamal").is_some());
            if given != 1 {
                errors.push(format!("[{rule}]-{group} TREBUIE sa aibe cel putin unul si numai unul dintre atributele cod punct de trecere frontiera(BT-25), cod birou vamal(BT-26) sau elementul locatie(BG-7)."));
            }
        }
    }
    errors
}

pub(crate) async fn upload_v1(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Path((_, standard, cif)): Path<(String, String, String)>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Response {
    handle_upload(&shared, env, &standard, &cif, "1", &caller, body).await
}

pub(crate) async fn upload(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Path((_, standard, cif, version)): Path<(String, String, String, String)>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Response {
    handle_upload(&shared, env, &standard, &cif, &version, &caller, body).await
}

async fn handle_upload(
    shared: &Shared,
    env: Env,
    standard: &str,
    cif: &str,
    version: &str,
    caller: &Caller,
    body: Body,
) -> Response {
    let now = shared.now();
    if standard != "ETRANSP" {
        return error(now, "Valoarea acceptata pentru parametrul standard este ETRANSP");
    }
    let namespace = match version {
        "1" => NS_V1,
        "2" => NS_V2,
        _ => return error(now, "Valorile acceptate pentru parametrul versiune sunt 1 sau 2"),
    };
    if !cif_is_number(cif) {
        return error(now, &format!("CIF introdus= {cif} nu este un numar"));
    }
    let Ok(body) = read_capped(body, SIZE_LIMIT).await else {
        return spring_400(now, "Trebuie sa aveti atasat in request un fisier de tip xml");
    };
    if body.total == 0 {
        return spring_400(now, "Trebuie sa aveti atasat in request un fisier de tip xml");
    }
    if body.too_large(SIZE_LIMIT) {
        return error(now, "Marime fisier transmis mai mare de 5 MB");
    }
    // Hashed, parsed and checked against the schema before the sandbox lock is taken; the
    // outcome is reported after the rights check, as ANAF orders them.
    let sha256 = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body.bytes));
    let invalid = |problem: String| {
        error(
            now,
            &format!(
                "Fisierul transmis nu este valid. org.xml.sax.SAXParseException; lineNumber: 1; columnNumber: 1; {problem}"
            ),
        )
    };
    let checked = match xml::parse(&body.bytes) {
        Err(e) => Err(error(
            now,
            &format!("Fisierul transmis nu este valid. {}", e.sax_text()),
        )),
        Ok(doc) if doc.root().name() != "eTransport" || doc.root().namespace() != Some(namespace) => {
            Err(invalid(format!(
                "cvc-elt.1.a: Cannot find the declaration of element '{}'.",
                doc.root().name()
            )))
        }
        Ok(doc) => match schema_check(doc.root()) {
            Err(problem) => Err(invalid(problem)),
            Ok(()) => Ok(doc),
        },
    };
    let mut state = shared.lock();
    if let Err(message) = rights(&state, caller, cif) {
        return error(now, &message);
    }
    let doc = match checked {
        Ok(doc) => doc,
        Err(response) => return response,
    };
    let root = doc.root();
    let operation = read_operation(root);
    let declarant = attr(root, "codDeclarant");
    let reference = attr(root, "refDeclarant");
    let outcome = match business_errors(&state.etransport, env, &declarant, root, &operation, now) {
        e if e.is_empty() => Outcome::Ok,
        e => Outcome::Nok(e),
    };
    state.etransport.last_index = state.etransport.last_index.max(4_000_000_000) + 1;
    let index = state.etransport.last_index;
    // A new notification gets a new UIT; every other operation acts on an existing one.
    let uit = operation
        .target_uit()
        .map_or_else(|| uit_for_sequence(index), str::to_owned);
    let final_at = now + chrono::Duration::from_std(shared.options.processing_delay).unwrap_or_default();
    state.etransport.declarations.insert(
        (env, index),
        Declaration {
            index,
            received_at: now,
            final_at,
            cif: cif.to_owned(),
            declarant,
            reference: reference.clone(),
            uit: uit.clone(),
            size: body.bytes.len(),
            evicted: false,
            body: body.bytes,
            sha256,
            operation,
            outcome,
        },
    );
    drop(doc);
    let size = state.etransport.declarations[&(env, index)].size;
    state.remember_body(
        crate::state::BodyKey::Etransport(env, index),
        size,
        shared.options.max_stored_bytes,
    );
    drop(state);
    let mut answer = json!({
        "dateResponse": minute_stamp(now),
        "ExecutionStatus": 0,
        "index_incarcare": index,
        "UIT": uit,
        "trace_id": trace_id(),
        "ref_declarant": reference,
    });
    if version == "2" {
        answer["atentie"] = json!(ATENTIE);
    }
    json_200(answer)
}

pub(crate) async fn status(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Path((_, id)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let now = shared.now();
    let Ok(index) = id.trim().parse::<u64>() else {
        return error(now, &format!("Id_incarcare introdus= {id} nu este un numar intreg"));
    };
    let mut state = shared.lock();
    let cifs = state.caller_cifs(&caller);
    if cifs.is_empty() {
        return error(now, "Nu exista niciun CIF petru care sa aveti drept");
    }
    let Some(declaration) = state.etransport.declarations.get(&(env, index)) else {
        return error(
            now,
            &format!("Nu exista declaratia de transport cu id_incarcare= {index}"),
        );
    };
    if !cifs.contains(&declaration.cif) {
        return error(
            now,
            &format!("Nu aveti dreptul de inteorgare pentru id_incarcare= {index}"),
        );
    }
    let stare = state_text(declaration, now);
    let outcome = declaration.outcome.clone();
    let limit = shared.options.daily_limits.etransport_status;
    if let Err(limit) = state
        .counters
        .take_daily(Scope::EtransportStatus(env, index), limit, now)
    {
        return error(
            now,
            &format!("S-au facut deja {limit} de verificari, pentru id-incarcare solicitat, in cursul zilei"),
        );
    }
    match (stare, outcome) {
        ("nok", Outcome::Nok(messages)) => {
            let list: Vec<Value> = messages.iter().map(|m| json!({"errorMessage": m})).collect();
            json_200(
                json!({"Errors": list, "stare": "nok", "dateResponse": minute_stamp(now), "ExecutionStatus": 1, "trace_id": trace_id()}),
            )
        }
        (stare, _) => json_200(
            json!({"stare": stare, "dateResponse": minute_stamp(now), "ExecutionStatus": 0, "trace_id": trace_id()}),
        ),
    }
}

fn transport_date(date: &str) -> String {
    format!("{}000000", date.replace('-', ""))
}

fn list_record(d: &Declaration) -> Value {
    let mut record = json!({
        "cod_decl": d.declarant,
        "ref_decl": d.reference,
        "sursa": "A",
        "id_incarcare": d.index.to_string(),
        "data_creare": second_stamp(d.final_at),
        "tip": d.operation.code(),
        "post_avarie": "N",
    });
    if let Outcome::Nok(messages) = &d.outcome {
        record["stare"] = json!("ERR");
        record["mesaje"] = Value::Array(messages.iter().map(|m| json!({"tip": "ERR", "mesaj": m})).collect());
        return record;
    }
    record["stare"] = json!("OK");
    record["uit"] = json!(d.uit);
    match &d.operation {
        Operation::Notification(notification) => {
            let Notification {
                kind,
                date,
                partner,
                carrier,
                vehicle,
                trailer,
                lines,
                gross,
                net,
                value,
                ..
            } = notification.as_ref();
            let fields = json!({
                "tip_op": kind, "data_transp": transport_date(date),
                "pc_tara": partner.0, "pc_cod": partner.1, "pc_den": partner.2,
                "tr_tara": carrier.0, "tr_cod": carrier.1, "tr_den": carrier.2,
                "nr_veh": vehicle, "nr_linii": lines,
                "gr_tot_bruta": gross, "gr_tot_neta": net, "val_tot": value,
            });
            merge(&mut record, fields);
            if let Some(trailer) = trailer {
                record["nr_rem1"] = json!(trailer);
            }
        }
        Operation::Confirmation { kind, .. } => {
            record["confirmare"] = json!({"tip_conf": kind, "obs": "", "post_avarie": "N", "sursa": "A",
                "data_decl": second_stamp(d.final_at), "id_incarcare": d.index.to_string()});
        }
        Operation::VehicleChange { vehicle, .. } => {
            record["modif_veh"] = json!([{"nr_veh": vehicle, "data_modif": second_stamp(d.final_at)}]);
        }
        Operation::Deletion { .. } => {}
    }
    record
}

fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(t), Value::Object(e)) = (target, extra) {
        t.extend(e);
    }
}

pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Path((_, days, cif)): Path<(String, String, String)>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let now = shared.now();
    let Ok(days_n) = days.trim().parse::<i64>() else {
        return error(
            now,
            &format!("Numarul de zile introdus= {days} nu este un numar intreg"),
        );
    };
    if !(1..=60).contains(&days_n) {
        return error(now, "Numarul de zile trebuie sa fie intre 1 si 60");
    }
    if !cif_is_number(&cif) {
        return error(now, &format!("CIF introdus= {cif} nu este un numar"));
    }
    let mut state = shared.lock();
    if let Err(message) = rights(&state, &caller, &cif) {
        return error(now, &message);
    }
    let limit = shared.options.daily_limits.etransport_list;
    if let Err(limit) = state
        .counters
        .take_daily(Scope::EtransportList(env, caller.serial.clone()), limit, now)
    {
        return error(
            now,
            &format!("S-au facut deja {limit} interogari de lista mesaje de catre utilizator in cursul zilei"),
        );
    }
    let since = now - chrono::Duration::days(days_n);
    let records: Vec<Value> = state
        .etransport
        .declarations
        .iter()
        .filter(|((e, _), d)| *e == env && d.cif == cif && d.final_at <= now && d.final_at >= since)
        .map(|(_, d)| list_record(d))
        .collect();
    if records.is_empty() {
        return error(now, &format!("Nu exista mesaje in ultimele {days_n} zile"));
    }
    json_200(json!({
        "mesaje": records,
        "serial": caller.serial,
        "cui": state.caller_cifs(&caller).join(","),
        "titlu": format!("Lista Mesaje disponibile din ultimele {days_n} zile"),
        "dateResponse": minute_stamp(now),
        "ExecutionStatus": 0,
        "trace_id": trace_id(),
    }))
}

fn place_json(p: &Place) -> Value {
    json!({
        "tip_loc": "ADR",
        "adresa_completa": format!("Jud. {}, {}, {}", p.county, p.locality, p.street),
        "judet": p.county, "localitate": p.locality, "strada": p.street, "numar": "", "alte_info": "",
    })
}

pub(crate) async fn info(
    State(shared): State<Arc<Shared>>,
    AnafEnv { env, .. }: AnafEnv,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let now = shared.now();
    let Some(operator) = param(&params, "cui_op") else {
        return spring_400(now, "Parametrul cui_op este obligatoriu");
    };
    let single_error =
        |message: &str| json_200(json!({"trace_id": trace_id(), "dateResponse": minute_stamp(now), "error": message}));
    if !cif_is_number(operator) {
        return single_error(&format!("cui_op introdus= {operator} nu este un numar"));
    }
    let state = shared.lock();
    if let Err(message) = rights(&state, &caller, operator) {
        return single_error(&message);
    }
    let live = state.etransport.live_notifications(env, now);
    let (by_declarant, by_uit, by_ref) = (
        param(&params, "cui_decl"),
        param(&params, "uit"),
        param(&params, "ref_decl"),
    );
    let records: Vec<Value> = state
        .etransport
        .declarations
        .iter()
        .filter(|((e, _), d)| *e == env && d.final_at <= now)
        .filter_map(|(_, d)| {
            let Operation::Notification(n) = &d.operation else { return None };
            let Notification { carrier, date, vehicle, start, end, documents, .. } = n.as_ref();
            let live = live.get(d.uit.as_str()) == Some(&d.index);
            let matches = live
                && carrier.1 == operator
                && by_declarant.is_none_or(|c| c == d.declarant)
                && by_uit.is_none_or(|u| u == d.uit)
                && by_ref.is_none_or(|r| r == d.reference);
            matches.then(|| {
                let transport_day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok();
                let iso = |day: Option<chrono::NaiveDate>| day.map(|d| format!("{d}T00:00:00")).unwrap_or_default();
                json!({
                    "id": d.index, "uit": d.uit, "cod_decl": d.declarant, "den_decl": state.company_name(&d.declarant),
                    "data_transp": iso(transport_day),
                    "data_exp_uit": iso(transport_day.and_then(|t| t.checked_add_days(chrono::Days::new(5)))),
                    "ref_decl": d.reference, "tr_cod": carrier.1, "tr_den": carrier.2, "nr_veh": vehicle,
                    "loc_start": place_json(start), "loc_final": place_json(end),
                    "documente": documents.iter().map(|(kind, number, day)| json!({"tip_doc": kind, "nr_doc": number, "data_doc": day})).collect::<Vec<_>>(),
                })
            })
        })
        .collect();
    if records.is_empty() {
        return single_error("Nu exista informatii pentru aceasta solicitare");
    }
    json_200(Value::Array(records))
}

/// ANAF removed the e-Transport download service from both environments.
pub(crate) async fn download(State(shared): State<Arc<Shared>>, uri: axum::extract::OriginalUri) -> Response {
    spring_404(shared.now(), uri.path())
}
