//! The per-minute limit, the daily reset at midnight in Bucharest, each injected fault, and
//! the request log.

mod common;

use std::time::{Duration, Instant};

use anaf_sandbox::{Fault, FaultSpec, SandboxOptions};
use common::*;
use serde_json::Value;

fn fault(endpoint: &str, fault: Fault, times: Option<u32>) -> FaultSpec {
    FaultSpec {
        endpoint: endpoint.into(),
        fault,
        times,
    }
}

#[tokio::test]
async fn the_per_minute_limit_answers_429_with_retry_after_until_the_next_minute() {
    let h = start_with(SandboxOptions::instant().per_minute_limit(3));
    let token = h.token().await;
    // Align to the start of a sandbox minute so all calls land in one window.
    let into_minute = h.sandbox.now().timestamp() % 60;
    h.sandbox.advance_clock(Duration::from_secs((60 - into_minute) as u64));
    for _ in 0..3 {
        assert_eq!(h.get(&token, "/TestOauth/jaxrs/hello?name=a").await.status(), 200);
    }
    let limited = h.get(&token, "/TestOauth/jaxrs/hello?name=a").await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    // The identity provider is not behind the API budget.
    assert_eq!(h.exchange(&h.app, &h.code_for(&h.app, SERIAL)).await.status(), 200);
    h.sandbox.advance_clock(Duration::from_secs(retry_after));
    assert_eq!(h.get(&token, "/TestOauth/jaxrs/hello?name=a").await.status(), 200);
}

#[tokio::test]
async fn daily_counters_reset_at_midnight_in_bucharest() {
    let options = SandboxOptions::instant().daily_limits(anaf_sandbox::DailyLimits {
        efactura_status: 1,
        ..Default::default()
    });
    let h = start_with(options);
    let token = h.token().await;
    let index = h.upload(&token, CIF, invoice("M-1", CIF, PARTNER)).await;
    assert_eq!(attr(&h.status(&token, index).await, "stare").as_deref(), Some("ok"));
    assert!(attr(&h.status(&token, index).await, "errorMessage").is_some());
    // Move to one second after the next midnight, Bucharest time.
    let now = h.sandbox.now().with_timezone(&chrono_tz::Europe::Bucharest);
    let midnight = now.date_naive().succ_opt().unwrap().and_hms_opt(0, 0, 1).unwrap();
    let midnight = midnight
        .and_local_timezone(chrono_tz::Europe::Bucharest)
        .single()
        .unwrap();
    let until = (midnight.with_timezone(&chrono::Utc) - h.sandbox.now())
        .to_std()
        .unwrap();
    h.sandbox.advance_clock(until - Duration::from_secs(2));
    assert!(
        attr(&h.status(&token, index).await, "errorMessage").is_some(),
        "still the same day"
    );
    h.sandbox.advance_clock(Duration::from_secs(3));
    assert_eq!(
        attr(&h.status(&token, index).await, "stare").as_deref(),
        Some("ok"),
        "a new day"
    );
}

#[tokio::test]
async fn latency_fault_delays_the_answer() {
    let h = start();
    let token = h.token().await;
    h.sandbox
        .inject_fault(fault("hello", Fault::Latency { ms: 300 }, Some(1)))
        .unwrap();
    let started = Instant::now();
    assert_eq!(h.get(&token, "/TestOauth/jaxrs/hello?name=a").await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn status_fault_answers_the_chosen_status_a_set_number_of_times() {
    let h = start();
    let token = h.token().await;
    h.sandbox
        .inject_fault(fault(
            "efactura.status",
            Fault::Status {
                status: 503,
                body: Some("maintenance".into()),
            },
            Some(2),
        ))
        .unwrap();
    for _ in 0..2 {
        let response = h.get(&token, "/test/FCTEL/rest/stareMesaj?id_incarcare=1").await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.text().await.unwrap(), "maintenance");
    }
    assert_eq!(
        h.get(&token, "/test/FCTEL/rest/stareMesaj?id_incarcare=1")
            .await
            .status(),
        200,
        "the fault is used up"
    );
}

#[tokio::test]
async fn reset_fault_drops_the_connection_without_an_answer() {
    let h = start();
    let token = h.token().await;
    h.sandbox
        .inject_fault(fault("efactura.list", Fault::Reset, Some(1)))
        .unwrap();
    let result = h
        .http
        .get(h.url(&format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}")))
        .bearer_auth(&token)
        .send()
        .await;
    let error = result.expect_err("no answer");
    assert!(!error.is_timeout());
    assert!(
        error.is_request() || error.is_connect() || error.to_string().contains("error sending request"),
        "{error}"
    );
    assert_eq!(
        h.get(&token, &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn waf_fault_serves_the_block_page_with_http_200() {
    let h = start();
    let token = h.token().await;
    h.sandbox
        .inject_fault(fault("efactura.download", Fault::WafBlock, Some(1)))
        .unwrap();
    let response = h.get(&token, "/test/FCTEL/rest/descarcare?id=1").await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Your support ID is: "));
}

#[tokio::test]
async fn accept_then_drop_stores_the_upload_but_the_client_never_hears_back() {
    let h = start();
    let token = h.token().await;
    h.sandbox
        .inject_fault(fault("efactura.upload", Fault::AcceptThenDrop, Some(1)))
        .unwrap();
    let xml = invoice("LOST-1", CIF, PARTNER);
    let result = h
        .http
        .post(h.url(&format!("/test/FCTEL/rest/upload?standard=UBL&cif={CIF}")))
        .bearer_auth(&token)
        .body(xml)
        .send()
        .await;
    assert!(result.is_err(), "the connection is dropped before the answer");
    let uploads = h.sandbox.uploads(Some(CIF));
    assert_eq!(uploads.len(), 1, "the upload was accepted exactly once");
    assert_eq!(uploads[0].document_number.as_deref(), Some("LOST-1"));
    // The message appears in the list: what a careful client reconciles against.
    let list = h
        .get_json(&token, &format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}"))
        .await;
    assert_eq!(list["mesaje"][0]["id_solicitare"], uploads[0].upload_id.to_string());
}

#[tokio::test]
async fn faults_can_target_every_endpoint_and_reject_unknown_names() {
    let h = start();
    assert!(
        h.sandbox
            .inject_fault(fault("efactura.nothing", Fault::Reset, None))
            .is_err()
    );
    assert!(h.sandbox.inject_fault(fault("hello", Fault::Reset, Some(0))).is_err());
    for endpoint in anaf_sandbox::Endpoint::ALL {
        h.sandbox
            .inject_fault(fault(
                endpoint.name(),
                Fault::Status {
                    status: 500,
                    body: None,
                },
                Some(1),
            ))
            .unwrap();
    }
    assert_eq!(
        h.http
            .post(h.url("/anaf-oauth2/v1/token"))
            .send()
            .await
            .unwrap()
            .status(),
        500
    );
    let all = fault(
        "*",
        Fault::Status {
            status: 502,
            body: None,
        },
        None,
    );
    h.sandbox.clear_faults();
    h.sandbox.inject_fault(all).unwrap();
    assert_eq!(
        h.http
            .get(h.url("/TestOauth/jaxrs/hello"))
            .send()
            .await
            .unwrap()
            .status(),
        502
    );
}

#[tokio::test]
async fn the_request_log_names_endpoints_and_grants_and_holds_no_secret() {
    let h = start();
    let tokens = h.tokens_for(&h.app, SERIAL).await;
    h.refresh(&h.app, &tokens.refresh).await;
    h.get(
        &tokens.access,
        "/TestOauth/jaxrs/hello?name=a&code=leak&access_token=leak2",
    )
    .await;
    let log = h.sandbox.requests();
    let grants: Vec<&str> = log.iter().filter_map(|e| e.detail.as_deref()).collect();
    assert_eq!(
        grants,
        vec!["grant_type=authorization_code", "grant_type=refresh_token"]
    );
    let hello = log.iter().find(|e| e.endpoint.as_deref() == Some("hello")).unwrap();
    assert_eq!(hello.serial.as_deref(), Some(SERIAL));
    assert_eq!(hello.client_id.as_deref(), Some(h.app.client_id.as_str()));
    let dump = serde_json::to_string(&log).unwrap();
    for secret in [
        &tokens.access,
        &tokens.refresh,
        &h.app.client_secret,
        &"leak".to_owned(),
    ] {
        assert!(!dump.contains(secret.as_str()), "a secret reached the request log");
    }
    let over_http: Value = h
        .http
        .get(h.url("/_sandbox/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http.as_array().unwrap().len(), log.len());
}

#[tokio::test]
async fn each_user_has_a_per_minute_budget_of_its_own() {
    let h = start_with(SandboxOptions::instant().per_minute_limit(2));
    let other = h
        .sandbox
        .add_identity(anaf_sandbox::IdentitySpec {
            serial: None,
            name: "Contabil".into(),
            cifs: vec![PARTNER.into()],
            services: anaf_sandbox::Service::ALL.to_vec(),
        })
        .unwrap();
    let mine = h.token().await;
    let theirs = h.tokens_for(&h.app, &other.serial).await.access;
    // Align to the start of a sandbox minute so all calls land in one window.
    let into_minute = h.sandbox.now().timestamp() % 60;
    h.sandbox.advance_clock(Duration::from_secs((60 - into_minute) as u64));
    for token in [&mine, &theirs] {
        for _ in 0..2 {
            assert_eq!(h.get(token, "/TestOauth/jaxrs/hello?name=a").await.status(), 200);
        }
    }
    assert_eq!(h.get(&mine, "/TestOauth/jaxrs/hello?name=a").await.status(), 429);
    assert_eq!(h.get(&theirs, "/TestOauth/jaxrs/hello?name=a").await.status(), 429);
    // A second token of the same user shares that user's budget.
    let mine_again = h.token().await;
    assert_eq!(h.get(&mine_again, "/TestOauth/jaxrs/hello?name=a").await.status(), 429);
}

#[tokio::test]
async fn endless_body_streams_until_the_client_goes_away() {
    let h = start();
    let token = h.token().await;
    h.sandbox
        .inject_fault(fault("efactura.download", Fault::EndlessBody, Some(1)))
        .unwrap();
    let mut response = h.get(&token, "/test/FCTEL/rest/descarcare?id=1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    assert!(response.headers().get("content-length").is_none());
    let mut received = 0usize;
    while received < 4 * 1024 * 1024 {
        let chunk = response.chunk().await.unwrap().expect("the body does not end");
        received += chunk.len();
    }
    drop(response);
    assert_eq!(
        h.get(&token, "/test/FCTEL/rest/descarcare?id=1").await.status(),
        200,
        "the fault is used up and the sandbox still serves"
    );
    let log = h.sandbox.requests();
    assert!(log.iter().any(|e| e.detail.as_deref() == Some("fault: endless_body")));
}

#[tokio::test]
async fn reply_and_redirect_faults_answer_exactly_what_was_asked() {
    let h = start();
    let token = h.token().await;
    h.sandbox
        .inject_fault(fault(
            "efactura.list",
            Fault::Reply {
                status: 200,
                content_type: "application/json".into(),
                body: r#"{"page": "maintenance"}"#.into(),
            },
            Some(1),
        ))
        .unwrap();
    let list = format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}");
    let reply = h.get(&token, &list).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["content-type"], "application/json");
    assert_eq!(reply.text().await.unwrap(), r#"{"page": "maintenance"}"#);

    // Over the admin API: ANAF's F5 login wall in front of an API call.
    let injected = h
        .http
        .post(h.url("/_sandbox/faults"))
        .json(&serde_json::json!({"endpoint": "efactura.list", "fault": {"kind": "redirect", "location": "/my.policy"}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), 200);
    let redirected = h.get(&token, &list).await;
    assert_eq!(redirected.status(), 302);
    assert_eq!(redirected.headers()["location"], "/my.policy");
    let injected = h
        .http
        .post(h.url("/_sandbox/faults"))
        .json(&serde_json::json!({"endpoint": "hello", "fault": {"kind": "reply", "status": 503, "content_type": "text/html", "body": "<html>x</html>"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), 200);
    let page = h.get(&token, "/TestOauth/jaxrs/hello?name=a").await;
    assert_eq!(
        (page.status().as_u16(), page.headers()["content-type"].to_str().unwrap()),
        (503, "text/html")
    );
    let listed: Value = h
        .http
        .get(h.url("/_sandbox/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["fault"]["kind"], "reply");
}
