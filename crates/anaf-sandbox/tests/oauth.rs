//! logincert.anaf.ro over HTTP: the authorization page, codes, tokens, refresh rotation,
//! revocation, application deletion and the seed's four access cases.

mod common;

use std::time::Duration;

use anaf_sandbox::{AppSpec, HistoryAction, IdentitySpec, RevokeBehaviour, SandboxOptions, Service};
use common::*;
use serde_json::Value;

#[tokio::test]
async fn browser_flow_page_then_form_redirects_with_code_and_state() {
    let h = start();
    let app = &h.app;
    let page = h
        .http
        .get(h.url("/anaf-oauth2/v1/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", app.redirect_uris[0].as_str()),
            ("state", "st-123"),
            ("token_content_type", "jwt"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/anaf-oauth2/v1/authorize\">"),
        "{html}"
    );
    assert!(html.contains(SERIAL), "the page offers the default identity");
    assert!(html.contains("name=\"state\" value=\"st-123\""));

    // What the browser posts when the user picks the identity and presses "Autentificare".
    let submit = h
        .http
        .post(h.url("/anaf-oauth2/v1/authorize"))
        .form(&[
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", app.redirect_uris[0].as_str()),
            ("state", "st-123"),
            ("token_content_type", "jwt"),
            ("serial", SERIAL),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(submit.status(), 302);
    let location = submit.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://localhost:8443/callback?code="),
        "{location}"
    );
    assert!(location.ends_with("&state=st-123"));
    let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap();
    let tokens = h.exchange(app, code).await;
    assert_eq!(tokens.status(), 200);
}

#[tokio::test]
async fn cancelling_on_the_page_redirects_with_access_denied() {
    let h = start();
    let response = h
        .http
        .post(h.url("/anaf-oauth2/v1/authorize"))
        .form(&[
            ("client_id", h.app.client_id.as_str()),
            ("redirect_uri", h.app.redirect_uris[0].as_str()),
            ("state", "s1"),
            ("action", "deny"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        "https://localhost:8443/callback?error=access_denied&state=s1"
    );
}

#[tokio::test]
async fn unknown_client_or_unregistered_redirect_shows_an_error_page_without_redirecting() {
    let h = start();
    for (client, redirect) in [
        ("nobody", h.app.redirect_uris[0].as_str()),
        (h.app.client_id.as_str(), "https://evil.example/cb"),
    ] {
        let response = h
            .http
            .get(h.url("/anaf-oauth2/v1/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", redirect),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("location").is_none());
    }
    let wrong_type = h
        .http
        .get(h.url("/anaf-oauth2/v1/authorize"))
        .query(&[
            ("response_type", "token"),
            ("client_id", h.app.client_id.as_str()),
            ("redirect_uri", h.app.redirect_uris[0].as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 302);
    assert!(
        wrong_type.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=unsupported_response_type")
    );
}

#[tokio::test]
async fn token_response_carries_rs512_jwts_with_anaf_claims_and_lifetimes() {
    let h = start();
    let tokens = h.tokens_for(&h.app, SERIAL).await;
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 90 * 86_400);
    assert_eq!(jwt_header(&tokens.access)["alg"], "RS512");
    let claims = jwt_claims(&tokens.access);
    assert_eq!(claims["serial"], SERIAL);
    assert_eq!(claims["clientappid"], h.app.client_id.as_str());
    assert_eq!(claims["iss"], "https://logincert.anaf.ro");
    assert_eq!(claims["role"], "HELLO, EFACTURA, ETRANSPORT");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 90 * 86_400);
    let refresh = jwt_claims(&tokens.refresh);
    assert_eq!(
        refresh["exp"].as_i64().unwrap() - refresh["iat"].as_i64().unwrap(),
        365 * 86_400
    );
}

#[tokio::test]
async fn without_jwt_content_type_tokens_are_opaque() {
    let h = start();
    let code = h
        .sandbox
        .authorize(&anaf_sandbox::AuthorizeRequest {
            client_id: h.app.client_id.clone(),
            redirect_uri: h.app.redirect_uris[0].clone(),
            serial: SERIAL.into(),
            state: None,
            token_content_type: String::new(),
        })
        .unwrap()
        .code;
    let response = h
        .http
        .post(h.url("/anaf-oauth2/v1/token"))
        .basic_auth(&h.app.client_id, Some(&h.app.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", h.app.redirect_uris[0].as_str()),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    assert!(!access.contains('.'), "opaque, not a JWT: {access}");
    assert_eq!(h.get(access, "/TestOauth/jaxrs/hello?name=x").await.status(), 200);
}

#[tokio::test]
async fn client_credentials_in_the_body_are_accepted_and_bad_ones_refused() {
    let h = start();
    let code = h.code_for(&h.app, SERIAL);
    let form = |secret: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".into(), code.clone()),
            ("redirect_uri".into(), h.app.redirect_uris[0].clone()),
            ("client_id".into(), h.app.client_id.clone()),
            ("client_secret".into(), secret.to_owned()),
        ]
    };
    let bad = h
        .http
        .post(h.url("/anaf-oauth2/v1/token"))
        .form(&form("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let good = h
        .http
        .post(h.url("/anaf-oauth2/v1/token"))
        .form(&form(&h.app.client_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
}

#[tokio::test]
async fn codes_are_single_use_bound_to_redirect_uri_and_expire_after_60_seconds() {
    let h = start();
    let code = h.code_for(&h.app, SERIAL);
    assert_eq!(h.exchange(&h.app, &code).await.status(), 200);
    let reused = h.exchange(&h.app, &code).await;
    assert_eq!(reused.status(), 400);
    assert_eq!(reused.json::<Value>().await.unwrap()["error"], "invalid_grant");

    let code = h.code_for(&h.app, SERIAL);
    let mismatched = h
        .http
        .post(h.url("/anaf-oauth2/v1/token"))
        .basic_auth(&h.app.client_id, Some(&h.app.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://localhost:9/other"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(mismatched.json::<Value>().await.unwrap()["error"], "invalid_grant");

    let code = h.code_for(&h.app, SERIAL);
    h.sandbox.advance_clock(Duration::from_secs(61));
    let late = h.exchange(&h.app, &code).await;
    assert_eq!(late.status(), 400);
    let body: Value = late.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn malformed_token_requests_get_rfc6749_errors() {
    let h = start();
    let post = |form: Vec<(&'static str, &'static str)>| {
        h.http
            .post(h.url("/anaf-oauth2/v1/token"))
            .basic_auth(&h.app.client_id, Some(&h.app.client_secret))
            .form(&form)
            .send()
    };
    let cases = [
        (vec![], "invalid_request"),
        (vec![("grant_type", "client_credentials")], "unsupported_grant_type"),
        (vec![("grant_type", "authorization_code")], "invalid_request"),
        (vec![("grant_type", "refresh_token")], "invalid_request"),
        (
            vec![("grant_type", "refresh_token"), ("refresh_token", "garbage")],
            "invalid_grant",
        ),
    ];
    for (form, expected) in cases {
        let response = post(form.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{form:?}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], expected, "{form:?}");
    }
}

#[tokio::test]
async fn refresh_rotates_both_tokens_and_the_old_refresh_token_stops_working() {
    let h = start();
    let first = h.tokens_for(&h.app, SERIAL).await;
    let response = h.refresh(&h.app, &first.refresh).await;
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    let (access2, refresh2) = (
        second["access_token"].as_str().unwrap(),
        second["refresh_token"].as_str().unwrap(),
    );
    assert_ne!(access2, first.access);
    assert_ne!(refresh2, first.refresh);
    assert_eq!(h.get(access2, "/TestOauth/jaxrs/hello?name=a").await.status(), 200);
    let replay = h.refresh(&h.app, &first.refresh).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(replay.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(h.refresh(&h.app, refresh2).await.status(), 200);
}

#[tokio::test]
async fn rotation_can_be_turned_off() {
    let h = start_with(SandboxOptions::instant().rotate_refresh_tokens(false));
    let first = h.tokens_for(&h.app, SERIAL).await;
    assert_eq!(h.refresh(&h.app, &first.refresh).await.status(), 200);
    assert_eq!(h.refresh(&h.app, &first.refresh).await.status(), 200);
}

#[tokio::test]
async fn refresh_tokens_are_not_bearer_tokens_and_expire_after_365_days() {
    let h = start();
    let tokens = h.tokens_for(&h.app, SERIAL).await;
    assert_eq!(
        h.get(&tokens.refresh, "/TestOauth/jaxrs/hello?name=a").await.status(),
        401
    );
    h.sandbox.advance_clock(Duration::from_secs(366 * 86_400));
    assert_eq!(h.refresh(&h.app, &tokens.refresh).await.status(), 400);
}

#[tokio::test]
async fn access_tokens_expire_after_90_days() {
    let h = start();
    let token = h.token().await;
    h.sandbox.advance_clock(Duration::from_secs(89 * 86_400));
    assert_eq!(h.get(&token, "/TestOauth/jaxrs/hello?name=a").await.status(), 200);
    h.sandbox.advance_clock(Duration::from_secs(2 * 86_400));
    let expired = h.get(&token, "/TestOauth/jaxrs/hello?name=a").await;
    assert_eq!(expired.status(), 401);
    assert_eq!(expired.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
    assert_eq!(expired.headers()["x-sandbox-reason"], "token expired");
}

#[tokio::test]
async fn revoking_an_access_token_or_a_refresh_token_ends_it() {
    let h = start();
    let tokens = h.tokens_for(&h.app, SERIAL).await;
    let revoke = |form: Vec<(&'static str, String)>| {
        h.http
            .post(h.url("/anaf-oauth2/v1/revoke"))
            .basic_auth(&h.app.client_id, Some(&h.app.client_secret))
            .form(&form)
            .send()
    };
    assert_eq!(
        revoke(vec![
            ("token", tokens.access.clone()),
            ("token_type_hint", "access_token".into())
        ])
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(
        h.get(&tokens.access, "/TestOauth/jaxrs/hello?name=a").await.status(),
        401
    );
    assert_eq!(
        h.refresh(&h.app, &tokens.refresh).await.status(),
        200,
        "revoking the access token leaves the refresh token"
    );

    let tokens = h.tokens_for(&h.app, SERIAL).await;
    assert_eq!(
        revoke(vec![("refresh_token", tokens.refresh.clone())])
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(h.refresh(&h.app, &tokens.refresh).await.status(), 400);
    assert_eq!(
        h.get(&tokens.access, "/TestOauth/jaxrs/hello?name=a").await.status(),
        401,
        "the grant is revoked"
    );
    assert_eq!(
        revoke(vec![("token", "unknown".into())]).await.unwrap().status(),
        200,
        "RFC 7009 2.2"
    );
    let unauthenticated = h
        .http
        .post(h.url("/anaf-oauth2/v1/revoke"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 400);
}

#[tokio::test]
async fn revoke_can_reproduce_the_login_wall() {
    let h = start_with(SandboxOptions::instant().revoke(RevokeBehaviour::LoginWall));
    let response = h
        .http
        .post(h.url("/anaf-oauth2/v1/revoke"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/my.policy");
}

#[tokio::test]
async fn deleting_the_application_ends_its_tokens_and_is_in_the_history() {
    let h = start();
    let app = h
        .sandbox
        .register_app(AppSpec {
            name: "Contabilitate".into(),
            redirect_uris: vec!["https://localhost:9443/cb".into()],
            services: vec![Service::EFactura],
        })
        .unwrap();
    assert_eq!(app.client_id.len(), 48);
    assert_eq!(app.client_secret.len(), 64);
    let tokens = h.tokens_for(&app, SERIAL).await;
    assert_eq!(
        h.get(&tokens.access, "/TestOauth/jaxrs/hello?name=a").await.status(),
        200
    );
    h.sandbox.delete_app(&app.client_id).unwrap();
    assert_eq!(
        h.get(&tokens.access, "/TestOauth/jaxrs/hello?name=a").await.status(),
        401
    );
    let refresh = h.refresh(&app, &tokens.refresh).await;
    assert_eq!(refresh.json::<Value>().await.unwrap()["error"], "invalid_client");
    let history = h.sandbox.history();
    let actions: Vec<_> = history
        .iter()
        .filter(|e| e.client_id == app.client_id)
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, vec![HistoryAction::Created, HistoryAction::Deleted]);
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));
}

#[tokio::test]
async fn registration_rejects_http_callbacks_and_missing_services() {
    let h = start();
    let http = AppSpec {
        name: "x".into(),
        redirect_uris: vec!["http://localhost/cb".into()],
        services: vec![Service::EFactura],
    };
    assert!(h.sandbox.register_app(http).is_err());
    let none = AppSpec {
        name: "x".into(),
        redirect_uris: vec!["https://localhost/cb".into()],
        services: vec![],
    };
    assert!(h.sandbox.register_app(none).is_err());
}

/// The seed's four cases: user without the service, app not enrolled, both, and TestOauth.
#[tokio::test]
async fn the_four_access_cases_of_the_seed() {
    let h = start();
    let efactura_app = h
        .sandbox
        .register_app(AppSpec {
            name: "EF".into(),
            redirect_uris: vec!["https://localhost:1/cb".into()],
            services: vec![Service::EFactura],
        })
        .unwrap();
    let transport_only_user = h
        .sandbox
        .add_identity(IdentitySpec {
            serial: None,
            name: "Sofer".into(),
            cifs: vec![CIF.into()],
            services: vec![Service::ETransport],
        })
        .unwrap();
    let list = format!("/test/FCTEL/rest/listaMesajeFactura?zile=1&cif={CIF}");
    let transport = format!("/test/ETRANSPORT/ws/v1/lista/1/{CIF}");

    // 1. The user has no right on e-Factura, the application has: the token is refused there.
    let token = h.tokens_for(&efactura_app, &transport_only_user.serial).await.access;
    let denied = h.get(&token, &list).await;
    assert_eq!(denied.status(), 403);
    assert!(denied.headers()["x-sandbox-reason"].to_str().unwrap().contains("user"));
    // 2. The user has e-Transport, the application is not enrolled for it: refused too.
    let denied = h.get(&token, &transport).await;
    assert_eq!(denied.status(), 403);
    assert!(
        denied.headers()["x-sandbox-reason"]
            .to_str()
            .unwrap()
            .contains("application is not enrolled")
    );
    // 3. Both have e-Factura: access.
    let token = h.tokens_for(&efactura_app, SERIAL).await.access;
    assert_eq!(h.get(&token, &list).await.status(), 200);
    let claims = jwt_claims(&token);
    assert_eq!(claims["role"], "HELLO, EFACTURA");
    // 4. Any token reaches TestOauth.
    let weakest = h.tokens_for(&efactura_app, &transport_only_user.serial).await.access;
    let hello = h
        .get(&weakest, "/TestOauth/jaxrs/hello?name=%22Test%20Hello%20App!%22")
        .await;
    assert_eq!(hello.status(), 200);
    assert_eq!(hello.headers()["content-type"], "text/plain; charset=UTF-8");
    let text = hello.text().await.unwrap();
    assert!(text.starts_with("Hello, \"Test Hello App!\"\nheaders="), "{text}");
    assert!(
        text.contains(&format!("key=Authorization\nval=[Bearer {weakest}]")),
        "echoed as ANAF does: {text}"
    );
}

#[tokio::test]
async fn missing_and_malformed_bearer_tokens_are_401() {
    let h = start();
    let no_token = h.http.get(h.url("/TestOauth/jaxrs/hello?name=a")).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let garbage = h.get("not-a-token", "/test/FCTEL/rest/stareMesaj?id_incarcare=1").await;
    assert_eq!(garbage.status(), 401);
    let basic = h
        .http
        .get(h.url("/TestOauth/jaxrs/hello"))
        .header("authorization", "Basic eDp5")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
}

#[tokio::test]
async fn testoauth_echoes_the_gateways_headers_host_included() {
    let h = start();
    let token = h.token().await;
    let text = h
        .http
        .get(h.url("/TestOauth/jaxrs/hello?name=x"))
        .bearer_auth(&token)
        .header("session-key", "spoofed")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("key=Host\nval=[api.anaf.ro]\n"), "{text}");
    assert!(
        !text.contains("127.0.0.1"),
        "the sandbox's own address is not echoed: {text}"
    );
    assert!(text.contains("key=issuer\nval=[Anaf]\n"));
    assert!(text.contains(&format!("key=serial_certificate\nval=[{SERIAL}]\n")));
    for key in ["session-id", "session-key"] {
        let at = text
            .find(&format!("key={key}\nval=["))
            .unwrap_or_else(|| panic!("{key} in {text}"));
        let value = text[at..].lines().nth(1).unwrap();
        assert!(value.len() > "val=[]".len(), "{key} has a value");
    }
    assert!(
        !text.contains("spoofed"),
        "the gateway's own session-key replaces the client's"
    );
    let keys: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("key=")).collect();
    let mut sorted = keys.clone();
    sorted.sort_by_key(|k| k.to_ascii_lowercase());
    assert_eq!(keys, sorted, "one alphabetical dump");
}

#[tokio::test]
async fn tokens_are_not_valid_before_they_were_issued_when_the_clock_moves_back() {
    let h = start();
    let tokens = h.tokens_for(&h.app, SERIAL).await;
    // Within the usual clock skew (60 s) a token is still accepted.
    h.sandbox.set_clock_offset(chrono::Duration::seconds(-30));
    assert_eq!(
        h.get(&tokens.access, "/TestOauth/jaxrs/hello?name=a").await.status(),
        200
    );
    // An hour back, the token was issued "later" than now: refused.
    h.sandbox.set_clock_offset(chrono::Duration::hours(-1));
    let early = h.get(&tokens.access, "/TestOauth/jaxrs/hello?name=a").await;
    assert_eq!(early.status(), 401);
    assert!(
        early.headers()["x-sandbox-reason"]
            .to_str()
            .unwrap()
            .contains("not valid yet")
    );
    let refresh: Value = h.refresh(&h.app, &tokens.refresh).await.json().await.unwrap();
    assert_eq!(refresh["error"], "invalid_grant");
    // Back to the present, the tokens work again (nothing was revoked).
    h.sandbox.set_clock_offset(chrono::Duration::zero());
    assert_eq!(
        h.get(&tokens.access, "/TestOauth/jaxrs/hello?name=a").await.status(),
        200
    );

    // With no leeway, any move back refuses them.
    let strict = start_with(SandboxOptions::instant().token_leeway(Duration::ZERO));
    let token = strict.token().await;
    strict.sandbox.set_clock_offset(chrono::Duration::seconds(-5));
    assert_eq!(strict.get(&token, "/TestOauth/jaxrs/hello?name=a").await.status(), 401);
}
