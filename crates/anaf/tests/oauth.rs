//! The OAuth lifecycle against the sandbox: login, refresh (automatic, single-flight, after a
//! 401), rotation hooks, revocation, and the error kinds OAuth can produce.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anaf::{ErrorKind, Revocation};
use anaf_sandbox::{AppSpec, IdentitySpec, RevokeBehaviour, SandboxOptions, Service};
use common::*;

#[tokio::test]
async fn authorization_url_carries_what_anaf_needs() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build().unwrap();
    let first = client.oauth().authorization_url(None).unwrap();
    let second = client.oauth().authorization_url(None).unwrap();
    assert_ne!(first.state, second.state, "a fresh random state each time");
    let url = url::Url::parse(&first.url).unwrap();
    assert_eq!(url.path(), "/anaf-oauth2/v1/authorize");
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["token_content_type"], "jwt");
    assert_eq!(query["client_id"], sandbox.default_application().client_id);
    assert_eq!(query["redirect_uri"], "https://localhost:8443/callback");
    assert_eq!(query["state"], first.state);
    let fixed = client.oauth().authorization_url(Some("my-state")).unwrap();
    assert_eq!(fixed.state, "my-state");
}

/// The whole browser flow: the authorization page, the form, the redirect, then
/// complete_authorization with the URL the browser ended on.
#[tokio::test]
async fn browser_flow_through_the_authorization_page() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build().unwrap();
    let request = client.oauth().authorization_url(None).unwrap();
    let location = approve_on_page(&browser(), sandbox.base_url(), &request.url).await;
    let tokens = client
        .oauth()
        .complete_authorization(&location, &request.state)
        .await
        .unwrap();
    let days = (tokens.expires_at - chrono::Utc::now()).num_days();
    assert!((89..=90).contains(&days), "expiry from the JWT exp claim: {days} days");
    assert!(tokens.refresh_expires_at.is_some());
    assert!(client.hello("flow").await.unwrap().starts_with("Hello, flow"));
}

#[tokio::test]
async fn a_redirect_with_another_state_or_an_error_is_refused() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build().unwrap();
    let code = code(&sandbox);
    let forged = format!("https://localhost:8443/callback?code={code}&state=other");
    let error = client
        .oauth()
        .complete_authorization(&forged, "mine")
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind(), error.oauth_error()),
        (ErrorKind::OAuth, Some("state_mismatch"))
    );
    let denied = client
        .oauth()
        .complete_authorization("https://localhost:8443/callback?error=access_denied&state=mine", "mine")
        .await
        .unwrap_err();
    assert_eq!(denied.oauth_error(), Some("access_denied"));
    assert!(denied.hint().unwrap().contains("USB token"));
    assert!(client.oauth().tokens().await.unwrap().is_none());
}

#[tokio::test]
async fn an_expired_or_reused_code_is_an_oauth_error() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build().unwrap();
    let code = code(&sandbox);
    sandbox.advance_clock(Duration::from_secs(61));
    let error = client.oauth().exchange_code(&code).await.unwrap_err();
    assert_eq!(
        (error.kind(), error.oauth_error(), error.http_status()),
        (ErrorKind::OAuth, Some("invalid_grant"), Some(400))
    );
    assert!(error.anaf_message().unwrap().contains("expired"));
    let fresh = common::code(&sandbox);
    client.oauth().exchange_code(&fresh).await.unwrap();
    assert_eq!(
        client.oauth().exchange_code(&fresh).await.unwrap_err().oauth_error(),
        Some("invalid_grant")
    );
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let sandbox = sandbox();
    let mut app = application(&sandbox);
    app.client_secret = "wrong".into();
    let client = builder(&sandbox).application(app).build().unwrap();
    let error = client.oauth().exchange_code(&code(&sandbox)).await.unwrap_err();
    assert_eq!(error.oauth_error(), Some("invalid_client"));
    assert!(error.hint().unwrap().contains("secret"));
}

#[tokio::test]
async fn refresh_rotates_and_tells_the_hook() {
    let sandbox = sandbox();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook_seen = seen.clone();
    let client = logged_in_with(
        &sandbox,
        builder(&sandbox).on_tokens_changed(move |t| hook_seen.lock().unwrap().push(t.clone())),
    )
    .await;
    let before = client.oauth().tokens().await.unwrap().unwrap();
    let after = client.oauth().refresh().await.unwrap();
    assert_ne!(after.access_token, before.access_token);
    assert_ne!(after.refresh_token, before.refresh_token);
    let seen = eventually("the hook hears the login and the refresh", || {
        let seen = seen.lock().unwrap().clone();
        (seen.len() >= 2).then_some(seen)
    })
    .await;
    assert_eq!(seen.len(), 2, "login and refresh");
    assert_eq!(seen[1], after);
    assert_eq!(refreshes(&sandbox), 1);
    // The old refresh token is spent at ANAF: installing it again and refreshing fails.
    let stale = builder(&sandbox).build().unwrap();
    stale.oauth().set_tokens(before).await.unwrap();
    assert_eq!(
        stale.oauth().refresh().await.unwrap_err().oauth_error(),
        Some("invalid_grant")
    );
}

#[tokio::test]
async fn tokens_near_expiry_are_refreshed_before_the_call() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    age_tokens(&client).await;
    client.hello("x").await.unwrap();
    assert_eq!(refreshes(&sandbox), 1);
    client.hello("y").await.unwrap();
    assert_eq!(refreshes(&sandbox), 1, "the new tokens are fresh");
}

#[tokio::test]
async fn many_tasks_at_expiry_cause_exactly_one_refresh() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    age_tokens(&client).await;
    let tasks: Vec<_> = (0..25)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.hello(&format!("t{i}")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(refreshes(&sandbox), 1);
}

#[tokio::test]
async fn a_caller_that_stops_waiting_mid_refresh_does_not_lose_the_rotated_tokens() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    age_tokens(&client).await;
    let before = client.oauth().tokens().await.unwrap().unwrap();
    sandbox
        .inject_fault(anaf_sandbox::FaultSpec {
            endpoint: "oauth.token".into(),
            fault: anaf_sandbox::Fault::Latency { ms: 400 },
            times: Some(1),
        })
        .unwrap();
    // The call gives up while the refresh is on the wire; ANAF rotates the pair anyway.
    let abandoned = tokio::time::timeout(Duration::from_millis(100), client.hello("impatient")).await;
    assert!(abandoned.is_err());
    // The refresh goes on without a waiter; give it time to finish (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.oauth().tokens().await.unwrap().unwrap().refresh_token == before.refresh_token {
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned refresh never completed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(refreshes(&sandbox), 1);
    let after = client.oauth().tokens().await.unwrap().unwrap();
    assert_ne!(after.refresh_token, before.refresh_token, "the rotated pair was kept");
    client.hello("later").await.unwrap();
    assert_eq!(refreshes(&sandbox), 1, "and it works without another refresh");
}

#[tokio::test]
async fn hello_masks_the_token_anaf_echoes() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let text = client.hello("x").await.unwrap();
    assert!(text.contains("key=Authorization\nval=[Bearer ***]"), "{text}");
    let token = client.oauth().tokens().await.unwrap().unwrap().access_token;
    assert!(!text.contains(token.expose()));
}

#[tokio::test]
async fn a_401_on_an_idempotent_call_refreshes_once_and_retries() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    // At the sandbox the access token is now expired; the client still believes it fresh.
    sandbox.advance_clock(Duration::from_secs(91 * 86_400));
    let status = client.efactura().list_messages(CIF, 1, None).await.unwrap();
    assert!(status.is_empty());
    assert_eq!(refreshes(&sandbox), 1);
    let unauthorized: Vec<_> = sandbox.requests().into_iter().filter(|r| r.status == 401).collect();
    assert_eq!(unauthorized.len(), 1, "one 401, then success");
}

#[tokio::test]
async fn an_upload_after_401_is_not_retried() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    sandbox.advance_clock(Duration::from_secs(91 * 86_400));
    let error = client
        .efactura()
        .upload(invoice("U-1", CIF, PARTNER), CIF, Default::default())
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind(), error.http_status()),
        (ErrorKind::Unauthorized, Some(401))
    );
    assert!(error.hint().is_some());
    assert_eq!(requests_to(&sandbox, "efactura.upload"), 1);
    assert!(sandbox.uploads(None).is_empty());
}

#[tokio::test]
async fn without_tokens_calls_fail_with_a_login_hint() {
    let sandbox = sandbox();
    let client = builder(&sandbox).build().unwrap();
    let error = client.hello("x").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert!(error.hint().unwrap().contains("log in"));
    assert!(sandbox.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn revoke_ends_the_grant_and_clears_local_tokens() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    let tokens = client.oauth().tokens().await.unwrap().unwrap();
    assert_eq!(client.oauth().revoke().await.unwrap(), Revocation::Confirmed);
    assert!(client.oauth().tokens().await.unwrap().is_none());
    let other = builder(&sandbox)
        .retry_policy(anaf::RetryPolicy::none())
        .build()
        .unwrap();
    other.oauth().set_tokens(tokens).await.unwrap();
    let error = other.hello("x").await.unwrap_err();
    assert_eq!(
        (error.kind(), error.oauth_error()),
        (ErrorKind::Unauthorized, Some("invalid_grant")),
        "401, then the refresh is refused too: {error}"
    );
    assert!(error.hint().unwrap().contains("log in again"));
}

#[tokio::test]
async fn revoke_against_a_login_wall_is_unconfirmed() {
    let sandbox = sandbox_with(SandboxOptions::instant().revoke(RevokeBehaviour::LoginWall));
    let client = logged_in(&sandbox).await;
    assert_eq!(client.oauth().revoke().await.unwrap(), Revocation::Unconfirmed);
    assert!(client.oauth().tokens().await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_the_application_makes_calls_fail_with_invalid_client() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    sandbox.delete_app(&sandbox.default_application().client_id).unwrap();
    let error = client.hello("x").await.unwrap_err();
    assert_eq!(
        (error.kind(), error.oauth_error()),
        (ErrorKind::OAuth, Some("invalid_client"))
    );
}

#[tokio::test]
async fn forbidden_names_both_of_the_seeds_causes() {
    let sandbox = sandbox();
    let driver = sandbox
        .add_identity(IdentitySpec {
            serial: None,
            name: "Sofer".into(),
            cifs: vec![CIF.into()],
            services: vec![Service::ETransport],
        })
        .unwrap();
    let client = builder(&sandbox).build().unwrap();
    client
        .oauth()
        .exchange_code(&code_for(&sandbox, &driver.serial))
        .await
        .unwrap();
    let error = client.efactura().list_messages(CIF, 1, None).await.unwrap_err();
    assert_eq!((error.kind(), error.http_status()), (ErrorKind::Forbidden, Some(403)));
    let hint = error.hint().unwrap();
    assert!(hint.contains("user") && hint.contains("enrolled"), "{hint}");
    assert!(client.hello("still").await.is_ok(), "any token reaches TestOauth");
    // An application enrolled only for e-Factura: e-Transport is forbidden.
    let app = sandbox
        .register_app(AppSpec {
            name: "EF".into(),
            redirect_uris: vec!["https://localhost:7/cb".into()],
            services: vec![Service::EFactura],
        })
        .unwrap();
    let ef_only = builder(&sandbox)
        .application(anaf::Application::new(
            app.client_id.clone(),
            app.client_secret.clone(),
            app.redirect_uris[0].clone(),
        ))
        .build()
        .unwrap();
    let code = sandbox
        .authorize(&anaf_sandbox::AuthorizeRequest {
            client_id: app.client_id,
            redirect_uri: app.redirect_uris[0].clone(),
            serial: SERIAL.into(),
            state: None,
            token_content_type: "jwt".into(),
        })
        .unwrap()
        .code;
    ef_only.oauth().exchange_code(&code).await.unwrap();
    assert_eq!(
        ef_only.etransport().list(CIF, 1).await.unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    assert!(ef_only.efactura().list_messages(CIF, 1, None).await.is_ok());
}

#[tokio::test]
async fn a_proxy_is_refused_for_plain_http_loopback_endpoints() {
    let sandbox = sandbox();
    let error = builder(&sandbox)
        .proxy("http://user:pass@proxy.local:3128")
        .build()
        .unwrap_err();
    assert_eq!((error.kind(), error.field()), (ErrorKind::InvalidInput, Some("proxy")));
    assert!(!error.to_string().contains("pass"));
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_at_build() {
    let error = anaf::Client::builder()
        .base_url("http://api.example.ro")
        .unwrap()
        .build()
        .unwrap_err();
    assert_eq!(
        (error.kind(), error.field()),
        (ErrorKind::InvalidInput, Some("base_url"))
    );
}
