//! Routes every path of every ANAF host onto one server, and the gate every ANAF request goes
//! through: fault injection, the per-minute budget, the Bearer check and the request log.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;

use crate::endpoint::{Access, Endpoint};
use crate::envelopes::{spring_404, support_id, waf_page};
use crate::model::{Fault, RequestLogEntry};
use crate::oauth::LogNote;
use crate::server::{DRAIN_LIMIT, KillConnection};
use crate::state::Shared;
use crate::{admin, efactura, etransport, hello, oauth};

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let anaf = Router::new()
        .route(
            "/anaf-oauth2/v1/authorize",
            get(oauth::authorize_page).post(oauth::authorize_submit),
        )
        .route("/anaf-oauth2/v1/token", post(oauth::token))
        .route("/anaf-oauth2/v1/revoke", post(oauth::revoke))
        .route("/{env}/FCTEL/rest/upload", post(efactura::upload))
        .route("/{env}/FCTEL/rest/uploadb2c", post(efactura::upload_b2c))
        .route("/{env}/FCTEL/rest/stareMesaj", get(efactura::status))
        .route("/{env}/FCTEL/rest/listaMesajeFactura", get(efactura::list))
        .route(
            "/{env}/FCTEL/rest/listaMesajePaginatieFactura",
            get(efactura::list_paged),
        )
        .route("/{env}/FCTEL/rest/descarcare", get(efactura::download))
        .route("/{env}/FCTEL/rest/validare/{standard}", post(efactura::validate))
        .route("/{env}/FCTEL/rest/transformare/{standard}", post(efactura::to_pdf))
        .route(
            "/{env}/FCTEL/rest/transformare/{standard}/{novld}",
            post(efactura::to_pdf_novld),
        )
        // Both files of the signature check may be ANAF-sized (10 MB each).
        .route(
            "/api/validate/signature",
            post(efactura::verify_signature).layer(axum::extract::DefaultBodyLimit::max(24 * 1024 * 1024)),
        )
        .route(
            "/{env}/ETRANSPORT/ws/v1/upload/{standard}/{cif}",
            post(etransport::upload_v1),
        )
        .route(
            "/{env}/ETRANSPORT/ws/v1/upload/{standard}/{cif}/{version}",
            post(etransport::upload),
        )
        .route("/{env}/ETRANSPORT/ws/v1/stareMesaj/{id}", get(etransport::status))
        .route("/{env}/ETRANSPORT/ws/v1/lista/{days}/{cif}", get(etransport::list))
        .route("/{env}/ETRANSPORT/ws/v1/info", get(etransport::info))
        .route("/{env}/ETRANSPORT/ws/v1/descarcare/{id}", get(etransport::download))
        .route("/TestOauth/jaxrs/hello", get(hello::hello))
        .route("/api/PlatitorTvaRest/v9/tva", post(hello::vat_registry))
        .route("/api/registruroefactura/v1/interogare", post(hello::efactura_register))
        .route_layer(middleware::from_fn_with_state(shared.clone(), gate));
    Router::new()
        .merge(anaf)
        .route("/my.policy", get(oauth::login_wall))
        .route("/_sandbox/", get(admin::info))
        .nest("/_sandbox", admin::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

/// Spring's answer to a known path with the wrong method.
async fn method_not_allowed(State(shared): State<Arc<Shared>>, OriginalUri(uri): OriginalUri) -> Response {
    let body = serde_json::json!({
        "timestamp": shared.now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        "status": 405, "error": "Method Not Allowed", "path": uri.path(),
    });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

async fn not_found(State(shared): State<Arc<Shared>>, OriginalUri(uri): OriginalUri, request: Request) -> Response {
    let now = shared.now();
    // logincert answers an unknown path with its login wall, like the real `/revoke`.
    let response = if uri.path().starts_with("/anaf-oauth2/") {
        let mut found = StatusCode::FOUND.into_response();
        found
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/my.policy"));
        found
    } else {
        spring_404(now, uri.path())
    };
    shared.lock().log(RequestLogEntry {
        at: now,
        method: request.method().to_string(),
        path: redacted_path(&uri),
        endpoint: None,
        status: response.status().as_u16(),
        client_id: None,
        serial: None,
        detail: None,
    });
    response
}

/// Query parameters whose values the request log keeps: ANAF's own, none of them secret.
/// Any other value (a `code`, a `client_secret`, an `access_key`, whatever a client puts in a
/// URL) is replaced.
const LOGGED_PARAMS: [&str; 21] = [
    "standard",
    "cif",
    "extern",
    "autofactura",
    "executare",
    "id_incarcare",
    "zile",
    "filtru",
    "startTime",
    "endTime",
    "pagina",
    "id",
    "name",
    "cui_op",
    "cui_decl",
    "uit",
    "ref_decl",
    "response_type",
    "client_id",
    "redirect_uri",
    "token_content_type",
];

fn redacted_path(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let pairs: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            let v = if LOGGED_PARAMS.contains(&k.as_ref()) {
                v
            } else {
                "<redacted>".into()
            };
            let mut pair = String::new();
            pair.extend(form_urlencoded::byte_serialize(k.as_bytes()));
            pair.push('=');
            pair.extend(form_urlencoded::byte_serialize(v.as_bytes()));
            pair
        })
        .collect();
    format!("{}?{}", uri.path(), pairs.join("&"))
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty()).then_some(token)
}

fn refused(status: StatusCode, reason: &str) -> Response {
    let mut response = (status, status.canonical_reason().unwrap_or_default().to_owned()).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    // Not something ANAF sends: a sandbox courtesy that says which access rule refused the call.
    if let Ok(value) = HeaderValue::from_str(reason) {
        response.headers_mut().insert("x-sandbox-reason", value);
    }
    response
}

fn too_many_requests(retry_after: u64) -> Response {
    let mut response = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// A response the connection task turns into a TCP reset.
fn killed() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(KillConnection);
    response
}

async fn gate(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    let Some(endpoint) = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| Endpoint::from_route(m.as_str()))
    else {
        return next.run(request).await;
    };
    let now = shared.now();
    let mut entry = RequestLogEntry {
        at: now,
        method: request.method().to_string(),
        path: redacted_path(request.uri()),
        endpoint: Some(endpoint.name().to_owned()),
        status: 0,
        client_id: None,
        serial: None,
        detail: None,
    };
    let finish = |mut entry: RequestLogEntry, response: Response| {
        entry.status = response.status().as_u16();
        shared.lock().log(entry);
        response
    };

    let fault = shared.lock().take_fault(endpoint.name());
    let mut drop_after_handling = false;
    match fault {
        Some(Fault::Latency { ms }) => {
            // ANAF has the whole request before it is slow to answer: read the body first, so
            // a client that gives up meanwhile still leaves a complete request behind.
            let (parts, body) = request.into_parts();
            request = Request::from_parts(parts, crate::body::buffered(body, DRAIN_LIMIT).await);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            entry.detail = Some(format!("fault: latency {ms} ms"));
        }
        Some(Fault::Status { status, body }) => {
            entry.detail = Some(format!("fault: status {status}"));
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return finish(entry, (status, body.unwrap_or_default()).into_response());
        }
        Some(Fault::Reset) => {
            entry.detail = Some("fault: reset".into());
            shared.lock().log(entry);
            return killed();
        }
        Some(Fault::WafBlock) => {
            entry.detail = Some("fault: waf_block".into());
            return finish(entry, waf_page(&support_id()));
        }
        Some(Fault::AcceptThenDrop) => drop_after_handling = true,
        Some(Fault::EndlessBody) => {
            entry.detail = Some("fault: endless_body".into());
            return finish(entry, endless_body());
        }
        Some(Fault::Reply {
            status,
            content_type,
            body,
        }) => {
            entry.detail = Some(format!("fault: reply {status}"));
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, body).into_response();
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            return finish(entry, response);
        }
        Some(Fault::Redirect { location }) => {
            entry.detail = Some("fault: redirect".into());
            let mut response = StatusCode::FOUND.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            return finish(entry, response);
        }
        None => {}
    }

    // webservicesp's registries: one request per second (the calls carry no identity, so the
    // pace is the whole sandbox's). ANAF documents the pace, not the answer: 429 is ours.
    if endpoint.paced_per_second()
        && shared.options.public_registry_pacing
        && !shared.lock().counters.take_second(endpoint.name(), now)
    {
        return finish(entry, too_many_requests(1));
    }

    let (required, optional) = match endpoint.access() {
        Access::Public => (None, true),
        Access::Bearer(service) => (Some(service), false),
        Access::OptionalBearer(service) => (Some(service), true),
        Access::AnyBearer => (None, false),
    };
    if endpoint.access() != Access::Public {
        match bearer(&request) {
            None if optional => {}
            None => return finish(entry, refused(StatusCode::UNAUTHORIZED, "no Bearer token")),
            Some(token) => {
                let mut state = shared.lock();
                let caller = match crate::oauth::authenticate(&state, &shared.options, token, now) {
                    Ok(caller) => caller,
                    Err(reason) => {
                        drop(state);
                        return finish(entry, refused(StatusCode::UNAUTHORIZED, reason));
                    }
                };
                entry.client_id = Some(caller.client_id.clone());
                entry.serial = Some(caller.serial.clone());
                // api.anaf.ro's budget, per user: the certificate behind the token.
                let limit = shared.options.per_minute_limit;
                if let Err(retry_after) = state.counters.take_minute(&caller.serial, limit, now) {
                    drop(state);
                    return finish(entry, too_many_requests(retry_after));
                }
                if let Some(reason) = required.and_then(|s| state.service_denial(&caller, s)) {
                    drop(state);
                    return finish(entry, refused(StatusCode::FORBIDDEN, &reason));
                }
                drop(state);
                request.extensions_mut().insert(caller);
            }
        }
    }

    let response = next.run(request).await;
    if let Some(note) = response.extensions().get::<LogNote>() {
        entry.client_id = note.client_id.clone().or(entry.client_id);
        entry.serial = note.serial.clone().or(entry.serial);
        entry.detail = note.detail.clone().or(entry.detail);
    }
    if drop_after_handling {
        entry.detail = Some("fault: accept_then_drop".into());
        entry.status = response.status().as_u16();
        shared.lock().log(entry);
        return killed();
    }
    finish(entry, response)
}

/// HTTP 200 `application/octet-stream` whose body never ends; it stops when the client goes
/// away (the connection fails, and hyper drops the body).
fn endless_body() -> Response {
    struct Endless;
    static CHUNK: [u8; 16 * 1024] = [0; 16 * 1024];
    impl hyper::body::Body for Endless {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(&CHUNK)))))
        }
    }
    ([(header::CONTENT_TYPE, "application/octet-stream")], Body::new(Endless)).into_response()
}
