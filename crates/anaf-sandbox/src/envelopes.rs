//! ANAF's answer shapes. Three unrelated envelopes coexist (protocol §3.0): Spring-Boot JSON for
//! missing parameters and bad paths, an XML `<header>` for upload and status, and JSON
//! `eroare`/`titlu` for lists and downloads. Business errors travel with HTTP 200.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::clock::{minute_stamp, text_stamp};

const XML_DECL: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;
pub const NS_UPLOAD: &str = "mfp:anaf:dgti:spv:respUploadFisier:v1";
pub const NS_STATUS: &str = "mfp:anaf:dgti:efactura:stareMesajFactura:v1";
pub const NS_ERRORS: &str = "mfp:anaf:dgti:efactura:mesajEroriFactuta:v1";

pub fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

pub fn json_200(value: Value) -> Response {
    (StatusCode::OK, axum::Json(value)).into_response()
}

/// Spring-Boot's default 400 body: `timestamp` as `dd-MM-yyyy HH:mm:ss`.
pub fn spring_400(now: DateTime<Utc>, message: &str) -> Response {
    let body = json!({"timestamp": text_stamp(now), "status": 400, "error": "Bad Request", "message": message});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// Spring-Boot's default 404 body: ISO `timestamp` and the path.
pub fn spring_404(now: DateTime<Utc>, path: &str) -> Response {
    let body = json!({
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, false),
        "status": 404, "error": "Not Found", "path": path,
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

pub fn upload_ok(now: DateTime<Utc>, index: u64) -> Response {
    xml(format!(
        r#"{XML_DECL}
<header xmlns="{NS_UPLOAD}" dateResponse="{}" ExecutionStatus="0" index_incarcare="{index}"/>
"#,
        minute_stamp(now)
    ))
}

pub fn upload_error(now: DateTime<Utc>, message: &str) -> Response {
    xml(format!(
        r#"{XML_DECL}
<header xmlns="{NS_UPLOAD}" dateResponse="{}" ExecutionStatus="1">
    <Errors errorMessage="{}"/>
</header>
"#,
        minute_stamp(now),
        escape_attr(message)
    ))
}

pub fn status_state(stare: &str, download_id: Option<u64>) -> Response {
    let id = download_id
        .map(|id| format!(r#" id_descarcare="{id}""#))
        .unwrap_or_default();
    xml(format!(
        r#"{XML_DECL}
<header xmlns="{NS_STATUS}" stare="{}"{id}/>
"#,
        escape_attr(stare)
    ))
}

pub fn status_error(message: &str) -> Response {
    xml(format!(
        r#"{XML_DECL}
<header xmlns="{NS_STATUS}">
    <Errors errorMessage="{}"/>
</header>
"#,
        escape_attr(message)
    ))
}

/// The error document inside a `nok` ZIP (namespace typo `Factuta` is ANAF's).
pub fn error_document(index: u64, seller_cif: &str, messages: &[String]) -> String {
    let mut doc = format!(
        "{XML_DECL}\n<header xmlns=\"{NS_ERRORS}\" Index_incarcare=\"{index}\" Cif_emitent=\"{}\">\n",
        escape_attr(seller_cif)
    );
    for message in messages {
        doc.push_str(&format!("    <Error errorMessage=\"{}\"/>\n", escape_attr(message)));
    }
    doc.push_str("</header>\n");
    doc
}

/// Escaping for a double-quoted attribute, as ANAF's serializer writes it: apostrophes stay
/// literal, line breaks and tabs become `&#xA;`/`&#x9;`.
pub fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#xA;"),
            '\t' => out.push_str("&#x9;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON `{"eroare": ..., "titlu": ...}` with HTTP 200.
pub fn eroare(message: &str, titlu: &str) -> Response {
    json_200(json!({"eroare": message, "titlu": titlu}))
}

/// The F5 firewall's block page, served with HTTP 200.
pub fn waf_page(support_id: &str) -> Response {
    let body = format!(
        "<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. Please consult with your administrator.<br><br>Your support ID is: {support_id}<br><br><a href='javascript:history.back();'>[Go Back]</a></body></html>"
    );
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A 19-digit support id, as F5 prints them.
pub fn support_id() -> String {
    let random = u64::from_str_radix(&crate::keys::random_hex(8), 16).unwrap_or(0);
    (1_000_000_000_000_000_000 + random % 9_000_000_000_000_000_000).to_string()
}

/// `validare`/`transformare` JSON verdicts.
pub fn validation_report(messages: &[String]) -> Response {
    let trace_id = uuid::Uuid::new_v4().to_string();
    if messages.is_empty() {
        json_200(json!({"stare": "ok", "trace_id": trace_id}))
    } else {
        let messages: Vec<Value> = messages.iter().map(|m| json!({"message": m})).collect();
        json_200(json!({"stare": "nok", "Messages": messages, "trace_id": trace_id}))
    }
}
