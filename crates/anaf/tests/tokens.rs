//! Token stores: the file store across clients and across processes (one refresh, no stranded
//! token), and the callback store other languages implement.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anaf::{CallbackTokenStore, FileTokenStore, TokenSet, TokenStore};
use common::*;

#[tokio::test]
async fn a_file_store_keeps_the_login_for_the_next_run() {
    let sandbox = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anaf/tokens.json");
    let first = logged_in_with(&sandbox, builder(&sandbox).token_store(FileTokenStore::new(&path))).await;
    first.hello("first").await.unwrap();
    drop(first);
    let second = builder(&sandbox)
        .token_store(FileTokenStore::new(&path))
        .build()
        .unwrap();
    assert!(second.hello("second").await.unwrap().starts_with("Hello, second"));
    // A refresh rewrites the file with the rotated pair.
    let renewed = second.oauth().refresh().await.unwrap();
    assert_eq!(FileTokenStore::new(&path).load().unwrap(), Some(renewed));
}

#[tokio::test]
async fn a_callback_store_sees_every_rotation() {
    let sandbox = sandbox();
    let saved: Arc<Mutex<Vec<TokenSet>>> = Arc::default();
    let (load_from, save_to) = (saved.clone(), saved.clone());
    let store = CallbackTokenStore::new(
        move || Ok(load_from.lock().unwrap().last().cloned()),
        move |tokens| {
            save_to.lock().unwrap().push(tokens.clone());
            Ok(())
        },
    );
    let client = logged_in_with(&sandbox, builder(&sandbox).token_store(store)).await;
    age_tokens(&client).await;
    client.hello("x").await.unwrap();
    let saved = saved.lock().unwrap();
    assert_eq!(saved.len(), 3, "login, the aged copy, the refresh");
    assert!(saved[2].expires_at > chrono::Utc::now());
    assert_eq!(refreshes(&sandbox), 1);
}

#[tokio::test]
async fn callback_store_clear_and_lock_are_used() {
    let sandbox = sandbox();
    let events: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let saved: Arc<Mutex<Option<TokenSet>>> = Arc::default();
    let (e1, e2) = (events.clone(), events.clone());
    let (load_from, save_to, cleared) = (saved.clone(), saved.clone(), saved.clone());
    let store = CallbackTokenStore::new(
        move || Ok(load_from.lock().unwrap().clone()),
        move |t| {
            *save_to.lock().unwrap() = Some(t.clone());
            Ok(())
        },
    )
    .with_clear(move || {
        *cleared.lock().unwrap() = None;
        Ok(())
    })
    .with_lock(
        move || {
            e1.lock().unwrap().push("lock");
            Ok(())
        },
        move || e2.lock().unwrap().push("unlock"),
    );
    let client = logged_in_with(&sandbox, builder(&sandbox).token_store(store)).await;
    client.oauth().refresh().await.unwrap();
    assert_eq!(
        *events.lock().unwrap(),
        vec!["lock", "unlock", "lock", "unlock"],
        "login and refresh, each under the lock"
    );
    client.oauth().revoke().await.unwrap();
    assert!(saved.lock().unwrap().is_none(), "revoking cleared the host's copy");
}

#[tokio::test]
async fn a_failing_save_callback_surfaces_as_an_internal_error() {
    let sandbox = sandbox();
    let store = CallbackTokenStore::new(|| Ok(None), |_| Err("disk full".into()));
    let client = builder(&sandbox).token_store(store).build().unwrap();
    let error = client.oauth().exchange_code(&code(&sandbox)).await.unwrap_err();
    assert_eq!(error.kind(), anaf::ErrorKind::Internal);
    assert!(error.to_string().contains("disk full"));
}

const CHILD: &str = "child_process_calls_hello_through_the_shared_file_store";

/// Run as a child process by the test below (it is ignored in a normal run).
#[test]
#[ignore = "a helper process for two_processes_sharing_a_file_store_refresh_once"]
fn child_process_calls_hello_through_the_shared_file_store() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"));
    let app = anaf::Application::new(
        var("ANAF_CLIENT_ID"),
        var("ANAF_CLIENT_SECRET"),
        var("ANAF_REDIRECT_URI"),
    );
    let client = anaf::Client::builder()
        .base_url(&var("ANAF_BASE_URL"))
        .unwrap()
        .application(app)
        .token_store(FileTokenStore::new(var("ANAF_TOKEN_FILE")))
        .build_blocking()
        .unwrap();
    // Start together with the other child, so both find the tokens expired at once.
    let go = std::path::PathBuf::from(var("ANAF_GO_FILE"));
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    client.hello("child").unwrap();
}

#[test]
fn two_processes_sharing_a_file_store_refresh_once() {
    let sandbox = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("tokens.json");
    let go_file = dir.path().join("go");
    let client = builder(&sandbox)
        .token_store(FileTokenStore::new(&token_file))
        .build_blocking()
        .unwrap();
    client.oauth().exchange_code(&code(&sandbox)).unwrap();
    age_tokens_blocking(&client);
    let app = sandbox.default_application();
    let spawn = || {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CHILD, "--ignored", "--nocapture", "--test-threads=1"])
            .env("ANAF_BASE_URL", sandbox.base_url())
            .env("ANAF_CLIENT_ID", &app.client_id)
            .env("ANAF_CLIENT_SECRET", &app.client_secret)
            .env("ANAF_REDIRECT_URI", &app.redirect_uris[0])
            .env("ANAF_TOKEN_FILE", &token_file)
            .env("ANAF_GO_FILE", &go_file)
            .spawn()
            .unwrap()
    };
    let children = [spawn(), spawn()];
    std::fs::write(&go_file, b"go").unwrap();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child process failed");
    }
    assert_eq!(refreshes(&sandbox), 1, "two processes, one refresh");
    assert_eq!(
        sandbox
            .requests()
            .iter()
            .filter(|r| r.endpoint.as_deref() == Some("hello") && r.status == 200)
            .count(),
        2
    );
    // Nothing is stranded: the stored pair works and can be refreshed again.
    let after = builder(&sandbox)
        .token_store(FileTokenStore::new(&token_file))
        .build_blocking()
        .unwrap();
    after.hello("after").unwrap();
    after.oauth().refresh().unwrap();
    assert_eq!(refreshes(&sandbox), 2);
}
