//! Errors say what happened: ANAF's technical error is transient, the login wall is its own
//! error, OAuth errors keep their status, a 403 keeps ANAF's words, an odd final state says
//! what is odd, an error after an accepted upload never invites a re-upload, and every error
//! serialises to the JSON the bindings use.

mod common;

use std::time::Duration;

use anaf::efactura::{UploadOptions, WaitOptions};
use anaf::{Endpoints, ErrorKind};
use anaf_sandbox::{Fault, FaultSpec};
use common::*;

fn fault(sandbox: &anaf_sandbox::Sandbox, endpoint: &str, fault: Fault, times: Option<u32>) {
    sandbox
        .inject_fault(FaultSpec {
            endpoint: endpoint.into(),
            fault,
            times,
        })
        .unwrap();
}

fn answer(status: u16, body: &str) -> Fault {
    Fault::Status {
        status,
        body: Some(body.into()),
    }
}

#[tokio::test]
async fn anafs_technical_error_is_transient() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    fault(
        &sandbox,
        "efactura.status",
        answer(
            200,
            r#"<header xmlns="mfp:anaf:dgti:efactura:stareMesajFactura:v1"><Errors errorMessage="A aparut o eroare tehnica. Cod: 101"/></header>"#,
        ),
        Some(1),
    );
    let error = client.efactura().status(5_000_000_001).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnexpectedResponse);
    assert_eq!(error.anaf_message(), Some("A aparut o eroare tehnica. Cod: 101"));
    assert!(error.is_transient(), "worth trying again later");
}

#[tokio::test]
async fn a_redirect_to_the_login_wall_is_its_own_error() {
    let sandbox = sandbox();
    // Paths of the identity provider it does not serve redirect to its login wall, as ANAF's
    // F5 does; point the API there.
    let wall = format!("{}/anaf-oauth2/elsewhere/", sandbox.base_url());
    let client = builder(&sandbox)
        .endpoints(Endpoints::new(sandbox.base_url(), &wall, sandbox.base_url()).unwrap())
        .build()
        .unwrap();
    client.oauth().exchange_code(&code(&sandbox)).await.unwrap();
    let error = client.hello("x").await.unwrap_err();
    assert_eq!(
        (error.kind(), error.http_status()),
        (ErrorKind::Unauthorized, Some(302))
    );
    assert!(error.to_string().contains("login wall"), "{error}");
    assert_eq!(error.anaf_message(), Some("Location: /my.policy"));
    // The token endpoint too.
    let oauth_wall = builder(&sandbox)
        .endpoints(Endpoints::new(&wall, sandbox.base_url(), sandbox.base_url()).unwrap())
        .build()
        .unwrap();
    let error = oauth_wall.oauth().exchange_code(&code(&sandbox)).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.http_status()),
        (ErrorKind::Unauthorized, Some(302))
    );
}

#[tokio::test]
async fn oauth_errors_keep_the_status_the_server_sent() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build().unwrap();
    fault(
        &sandbox,
        "oauth.token",
        answer(
            401,
            r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
        ),
        Some(1),
    );
    let error = client.oauth().exchange_code(&code(&sandbox)).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.http_status(), error.oauth_error()),
        (ErrorKind::OAuth, Some(401), Some("invalid_client"))
    );
    assert_eq!(error.anaf_message(), Some("Client authentication failed"));
    // A failure that is not an OAuth error keeps its status and what the server said.
    fault(&sandbox, "oauth.token", answer(503, "Service Unavailable"), Some(1));
    let error = client.oauth().exchange_code(&code(&sandbox)).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.http_status()),
        (ErrorKind::UnexpectedResponse, Some(503))
    );
    assert_eq!(error.anaf_message(), Some("Service Unavailable"));
}

#[tokio::test]
async fn a_403_keeps_what_anaf_said() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    fault(
        &sandbox,
        "efactura.list",
        answer(403, "Acces interzis pentru acest serviciu"),
        Some(1),
    );
    let error = client.efactura().list_messages(CIF, 1, None).await.unwrap_err();
    assert_eq!((error.kind(), error.http_status()), (ErrorKind::Forbidden, Some(403)));
    assert_eq!(error.anaf_message(), Some("Acces interzis pentru acest serviciu"));
    assert!(error.hint().is_some());
}

#[tokio::test]
async fn a_final_state_with_a_non_numeric_download_id_says_so() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    fault(
        &sandbox,
        "efactura.status",
        answer(
            200,
            r#"<header xmlns="mfp:anaf:dgti:efactura:stareMesajFactura:v1" stare="ok" id_descarcare="30012a"/>"#,
        ),
        Some(1),
    );
    let error = client.efactura().status(5_000_000_001).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnexpectedResponse);
    assert!(error.to_string().contains("not a number"), "{error}");
    assert_eq!(error.anaf_message(), Some("id_descarcare=\"30012a\""));
}

#[tokio::test]
async fn an_error_after_the_upload_went_through_is_never_transient() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    // Every status poll fails with a gateway error (retried, then given up).
    fault(&sandbox, "efactura.status", answer(502, "Bad Gateway"), None);
    let error = client
        .efactura()
        .upload_and_wait(
            invoice("TR-1", CIF, PARTNER),
            CIF,
            UploadOptions::default(),
            WaitOptions::default().first_poll(Duration::from_millis(10)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind(), error.http_status()),
        (ErrorKind::UnexpectedResponse, Some(502))
    );
    let upload_id = error.upload_id().expect("the accepted upload's id is kept");
    assert!(
        !error.is_transient(),
        "retrying upload_and_wait would send the invoice again"
    );
    assert_eq!(sandbox.uploads(Some(CIF)).len(), 1);
    // What to do instead: follow the upload.
    sandbox.clear_faults();
    assert!(client.efactura().status(upload_id).await.unwrap().is_final());
    // A generic retry wrapper stops at once.
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        fault(&sandbox, "efactura.status", answer(502, "Bad Gateway"), None);
        let result = client
            .efactura()
            .upload_and_wait(
                invoice("TR-2", CIF, PARTNER),
                CIF,
                UploadOptions::default(),
                WaitOptions::default().first_poll(Duration::from_millis(10)),
            )
            .await;
        match result {
            Err(e) if e.is_transient() && attempts < 3 => continue,
            other => break other,
        }
    };
    assert!(result.is_err());
    assert_eq!(attempts, 1);
    assert_eq!(sandbox.uploads(Some(CIF)).len(), 2, "TR-2 was sent once");
}

#[tokio::test]
async fn errors_serialise_to_stable_json() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let error = client.efactura().download(3_001_293_434).await.unwrap_err();
    let json: serde_json::Value = serde_json::from_str(&error.to_json()).unwrap();
    assert_eq!(json["kind"], "not_found");
    assert_eq!(json["number"], 7);
    assert_eq!(json["http_status"], 200);
    assert_eq!(
        json["anaf_message"],
        "Pentru id=3001293434 nu exista inregistrata nici o factura"
    );
    assert_eq!(json["transient"], false);
    assert_eq!(json["upload_outcome_unknown"], false);
    assert!(json["text"].as_str().unwrap().contains("ANAF says"));
    // The order of the keys as written (a JSON map need not keep it).
    let text = error.to_json();
    let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_by_key(|key| text.find(&format!("\"{key}\":")).unwrap());
    assert_eq!(
        keys,
        [
            "kind",
            "number",
            "message",
            "http_status",
            "anaf_message",
            "hint",
            "field",
            "cif",
            "oauth_error",
            "retry_after_ms",
            "limit",
            "limit_scope",
            "previous_upload_id",
            "upload_id",
            "support_id",
            "upload_outcome_unknown",
            "transient",
            "source",
            "text"
        ],
        "every key, always, in this order"
    );
    for kind in ErrorKind::ALL {
        assert_eq!(kind.code().parse::<ErrorKind>().unwrap(), kind);
    }
}
