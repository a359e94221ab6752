//! TestOauth's hello service and the public VAT registry (webservicesp.anaf.ro).

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::envelopes::{json_200, spring_400};
use crate::oauth::param;
use crate::state::{Caller, Shared};

/// `Hello, {name}` followed by the request headers as the gateway saw them (seed §5.3),
/// the Authorization header (and so the token) included, as ANAF's service does: a client
/// must not print this text as it comes.
pub(crate) async fn hello(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let name = param(&params, "name").unwrap_or_default();
    let mut text = format!("Hello, {name}\nheaders=");
    let mut names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for key in names {
        let values: Vec<String> = headers
            .get_all(key)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        text.push_str(&format!(
            "key={}\nval=[{}]\n",
            canonical_header_name(key),
            values.join(", ")
        ));
    }
    text.push_str("key=issuer\nval=[Anaf]\n");
    text.push_str(&format!("key=serial_certificate\nval=[{}]\n", caller.serial));
    text.push_str(&format!("key=session-id\nval=[{}]\n", crate::keys::random_hex(8)));
    let _ = shared;
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

/// `POST /api/PlatitorTvaRest/v9/tva`: taxpayer data for up to 100 CUIs from the sandbox's
/// company registry.
pub(crate) async fn vat_registry(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let now = shared.now();
    // 100 queries fit in a few kilobytes.
    const LIMIT: usize = 1024 * 1024;
    let Some(body) = crate::body::read_capped(body, LIMIT)
        .await
        .ok()
        .filter(|b| !b.too_large(LIMIT))
    else {
        return spring_400(now, "Corpul cererii este prea mare");
    };
    let body = body.bytes;
    let Ok(Value::Array(queries)) = serde_json::from_slice::<Value>(&body) else {
        return spring_400(
            now,
            "Corpul cererii trebuie sa fie o lista JSON de forma [{\"cui\": 123, \"data\": \"yyyy-MM-dd\"}]",
        );
    };
    if queries.len() > 100 {
        return spring_400(now, "Numarul maxim de CUI-uri intr-o cerere este 100");
    }
    let state = shared.lock();
    let mut found = Vec::new();
    let mut not_found = Vec::new();
    for query in &queries {
        let cui = match &query["cui"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_owned(),
            _ => String::new(),
        };
        let data = query["data"].as_str().unwrap_or_default();
        if !state.company_known(&cui) {
            not_found.push(query["cui"].clone());
            continue;
        }
        let name = state.company_name(&cui);
        let cui_number: Value = cui.parse::<u64>().map(Value::from).unwrap_or(Value::from(cui.clone()));
        found.push(json!({
            "date_generale": {
                "cui": cui_number, "data": data, "denumire": name,
                "adresa": "MUNICIPIUL BUCURESTI, SECTOR 1, STR. SANDBOX, NR.1",
                "nrRegCom": format!("J40/{cui}/2020"), "telefon": "", "fax": "", "codPostal": "010101",
                "act": "", "stare_inregistrare": "INREGISTRAT din data 01.01.2020",
                "data_inregistrare": "2020-01-01", "cod_CAEN": "6201", "iban": "",
                "statusRO_e_Factura": true, "organFiscalCompetent": "Administraţia Sector 1 a Finanţelor Publice",
                "forma_de_proprietate": "PROPR.PRIVATA-CAPITAL PRIVAT AUTOHTON",
                "forma_organizare": "PERSOANA JURIDICA", "forma_juridica": "SOCIETATE COMERCIALĂ CU RĂSPUNDERE LIMITATĂ",
            },
            "inregistrare_scop_Tva": {"scpTVA": true, "perioade_TVA": [{
                "data_inceput_ScpTVA": "2020-01-01", "data_sfarsit_ScpTVA": "", "data_anul_imp_ScpTVA": "", "mesaj_ScpTVA": ""
            }]},
            "inregistrare_RTVAI": {"dataInceputTvaInc": "", "dataSfarsitTvaInc": "", "dataActualizareTvaInc": "",
                "dataPublicareTvaInc": "", "tipActTvaInc": "", "statusTvaIncasare": false},
            "stare_inactiv": {"dataInactivare": "", "dataReactivare": "", "dataPublicare": "", "dataRadiere": "",
                "statusInactivi": false},
            "inregistrare_SplitTVA": {"dataInceputSplitTVA": "", "dataAnulareSplitTVA": "", "statusSplitTVA": false},
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
