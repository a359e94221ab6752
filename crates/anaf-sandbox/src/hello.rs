//! TestOauth's hello service and webservicesp.anaf.ro's public registries (the VAT registry
//! and the RO e-Factura register).

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::envelopes::{json_200, spring_400};
use crate::oauth::param;
use crate::state::{Caller, Shared};

/// Headers ANAF's gateway adds behind it; a client's own header of the same name is replaced.
const GATEWAY_HEADERS: [&str; 5] = ["host", "issuer", "serial_certificate", "session-id", "session-key"];

/// `Hello, {name}` followed by the request headers as the gateway saw them (protocol §5):
/// the client's headers, `Host` as `[api.anaf.ro]`, and the gateway's `issuer`,
/// `serial_certificate`, `session-id` and `session-key`. The Authorization header (and so the
/// token) is included, as ANAF's service does: a client must not print this text as it comes.
pub(crate) async fn hello(
    Extension(caller): Extension<Caller>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let name = param(&params, "name").unwrap_or_default();
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for key in names.into_iter().filter(|k| !GATEWAY_HEADERS.contains(k)) {
        let values: Vec<String> = headers
            .get_all(key)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        entries.push((canonical_header_name(key), values.join(", ")));
    }
    entries.push(("Host".into(), "api.anaf.ro".into()));
    entries.push(("issuer".into(), "Anaf".into()));
    entries.push(("serial_certificate".into(), caller.serial.clone()));
    entries.push(("session-id".into(), crate::keys::random_hex(8)));
    entries.push(("session-key".into(), crate::keys::random_hex(16)));
    entries.sort_by_key(|(key, _)| key.to_ascii_lowercase());
    let mut text = format!("Hello, {name}\nheaders=");
    for (key, value) in entries {
        text.push_str(&format!("key={key}\nval=[{value}]\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], text).into_response()
}

fn canonical_header_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The most CUIs one request to a registry may ask about (ANAF's documented limit).
const MAX_CUIS: usize = 100;

/// One `{"cui": ..., "data": ...}` of a registry request: the CUI as text (for lookups) and
/// as sent (for `notFound`), and the date asked about.
struct RegistryQuery {
    cui: String,
    sent: Value,
    data: String,
}

/// Reads a registry request: a JSON array of at most 100 `{"cui": 123, "data": "yyyy-MM-dd"}`.
async fn registry_queries(shared: &Shared, body: Body) -> Result<Vec<RegistryQuery>, Response> {
    let now = shared.now();
    // 100 queries fit in a few kilobytes.
    const LIMIT: usize = 1024 * 1024;
    let Some(body) = crate::body::read_capped(body, LIMIT)
        .await
        .ok()
        .filter(|b| !b.too_large(LIMIT))
    else {
        return Err(spring_400(now, "Corpul cererii este prea mare"));
    };
    let Ok(Value::Array(queries)) = serde_json::from_slice::<Value>(&body.bytes) else {
        return Err(spring_400(
            now,
            "Corpul cererii trebuie sa fie o lista JSON de forma [{\"cui\": 123, \"data\": \"yyyy-MM-dd\"}]",
        ));
    };
    if queries.len() > MAX_CUIS {
        return Err(spring_400(now, "Numarul maxim de CUI-uri intr-o cerere este 100"));
    }
    Ok(queries
        .into_iter()
        .map(|query| {
            let cui = match &query["cui"] {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_owned(),
                _ => String::new(),
            };
            RegistryQuery {
                cui,
                sent: query["cui"].clone(),
                data: query["data"].as_str().unwrap_or_default().to_owned(),
            }
        })
        .collect())
}

/// The CUI as a JSON number when it is one (ANAF answers numbers).
fn cui_value(cui: &str) -> Value {
    cui.parse::<u64>().map(Value::from).unwrap_or(Value::from(cui))
}

const ADDRESS: &str = "MUNICIPIUL BUCURESTI, SECTOR 1, STR. SANDBOX, NR.1";

/// `POST /api/PlatitorTvaRest/v9/tva`: taxpayer data for up to 100 CUIs, from the facts set
/// with `Sandbox::set_company` (a VAT payer in the RO e-Factura register by default).
pub(crate) async fn vat_registry(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let queries = match registry_queries(&shared, body).await {
        Ok(queries) => queries,
        Err(response) => return response,
    };
    let state = shared.lock();
    let mut found = Vec::new();
    let mut not_found = Vec::new();
    for query in &queries {
        let Some(company) = state.company(&query.cui) else {
            not_found.push(query.sent.clone());
            continue;
        };
        let cui = &query.cui;
        let since = company.since.format("%Y-%m-%d").to_string();
        let since_ro = company.since.format("%d.%m.%Y").to_string();
        let on = |flag: bool| if flag { since.clone() } else { String::new() };
        let periods: Vec<Value> = if company.vat_payer {
            vec![json!({
                "data_inceput_ScpTVA": since, "data_sfarsit_ScpTVA": "", "data_anul_imp_ScpTVA": "", "mesaj_ScpTVA": ""
            })]
        } else {
            Vec::new()
        };
        found.push(json!({
            "date_generale": {
                "cui": cui_value(cui), "data": query.data, "denumire": state.company_name(cui),
                "adresa": ADDRESS,
                "nrRegCom": format!("J40/{cui}/2020"), "telefon": "", "fax": "", "codPostal": "010101",
                "act": "", "stare_inregistrare": format!("INREGISTRAT din data {since_ro}"),
                "data_inregistrare": since, "cod_CAEN": "6201", "iban": "",
                "statusRO_e_Factura": company.efactura_registered,
                "organFiscalCompetent": "Administraţia Sector 1 a Finanţelor Publice",
                "forma_de_proprietate": "PROPR.PRIVATA-CAPITAL PRIVAT AUTOHTON",
                "forma_organizare": "PERSOANA JURIDICA", "forma_juridica": "SOCIETATE COMERCIALĂ CU RĂSPUNDERE LIMITATĂ",
                "data_inreg_Reg_RO_e_Factura": on(company.efactura_registered),
            },
            "inregistrare_scop_Tva": {"scpTVA": company.vat_payer, "perioade_TVA": periods},
            "inregistrare_RTVAI": {"dataInceputTvaInc": on(company.vat_on_collection), "dataSfarsitTvaInc": "",
                "dataActualizareTvaInc": on(company.vat_on_collection), "dataPublicareTvaInc": on(company.vat_on_collection),
                "tipActTvaInc": if company.vat_on_collection { "Inregistrare" } else { "" },
                "statusTvaIncasare": company.vat_on_collection},
            "stare_inactiv": {"dataInactivare": on(company.inactive), "dataReactivare": "",
                "dataPublicare": on(company.inactive), "dataRadiere": "", "statusInactivi": company.inactive},
            "inregistrare_SplitTVA": {"dataInceputSplitTVA": on(company.split_vat), "dataAnulareSplitTVA": "",
                "statusSplitTVA": company.split_vat},
            "adresa_sediu_social": {"sdenumire_Strada": "Str. Sandbox", "snumar_Strada": "1",
                "sdenumire_Localitate": "Mun. Bucureşti Sec. 1", "scod_Localitate": "179", "sdenumire_Judet": "MUNICIPIUL BUCUREŞTI",
                "scod_Judet": "40", "scod_JudetAuto": "B", "stara": "", "sdetalii_Adresa": "", "scod_Postal": "010101"},
            "adresa_domiciliu_fiscal": {"ddenumire_Strada": "Str. Sandbox", "dnumar_Strada": "1",
                "ddenumire_Localitate": "Mun. Bucureşti Sec. 1", "dcod_Localitate": "179", "ddenumire_Judet": "MUNICIPIUL BUCUREŞTI",
                "dcod_Judet": "40", "dcod_JudetAuto": "B", "dtara": "", "ddetalii_Adresa": "", "dcod_Postal": "010101"},
        }));
    }
    // The documented "cod"/"message" pair is absent from live 200 answers (protocol §7.1).
    json_200(json!({"found": found, "notFound": not_found}))
}

/// `POST /api/registruroefactura/v1/interogare`: the RO e-Factura register for up to 100
/// CUIs; HTTP 404 with the same body shape when none of them is in it (protocol §7.1).
pub(crate) async fn efactura_register(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let queries = match registry_queries(&shared, body).await {
        Ok(queries) => queries,
        Err(response) => return response,
    };
    let state = shared.lock();
    let mut found = Vec::new();
    let mut not_found = Vec::new();
    for query in &queries {
        let Some(company) = state.company(&query.cui).filter(|c| c.efactura_registered) else {
            not_found.push(query.sent.clone());
            continue;
        };
        found.push(json!({
            "cui": cui_value(&query.cui),
            "denumire": state.company_name(&query.cui),
            "adresa": ADDRESS,
            "registru": REGISTER_NAME,
            "categorie": REGISTER_CATEGORY,
            "dataInscriere": company.since.format("%Y-%m-%d").to_string(),
            "dataRenuntare": "",
            "dataRadiere": "",
            "dataOptiuneB2G": "",
            "stare": REGISTER_STATE,
        }));
    }
    let status = if found.is_empty() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    (status, axum::Json(json!({"found": found, "notFound": not_found}))).into_response()
}

/// The register's own values for `registru`, `categorie` and `stare`. ANAF's documentation
/// names the fields without example values and no live answer with a found CUI has been
/// published: these are the sandbox's readable choices.
const REGISTER_NAME: &str = "RO e-Factura";
const REGISTER_CATEGORY: &str = "Persoana juridica";
const REGISTER_STATE: &str = "inregistrat";
