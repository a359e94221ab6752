//! Tokens are never lost and never spent twice: a failed save is retried and reported, store
//! callbacks and hooks never run on the async workers, clients sharing a store refresh once,
//! every change of the tokens takes the same locks, and a refresh whose answer was lost is
//! reported once as "log in again".

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anaf::{
    AsyncTokenStore, CallbackTokenStore, ErrorKind, FileTokenStore, MemoryTokenStore, TokenChange, TokenEvent,
    TokenSet, TokenStore,
};
use anaf_sandbox::{Fault, FaultSpec};
use common::*;
use futures_util::future::BoxFuture;

/// What the hooks heard, as short strings (`changed:refresh:saved`, `save_failed`, ...).
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<String>>>);

impl Heard {
    fn hook(&self) -> impl Fn(&TokenEvent) + Send + Sync + 'static {
        let heard = self.0.clone();
        move |event| {
            let line = match event {
                TokenEvent::Changed { change, saved, .. } => {
                    let change = serde_json::to_value(change).unwrap();
                    format!(
                        "changed:{}:{}",
                        change.as_str().unwrap(),
                        if *saved { "saved" } else { "unsaved" }
                    )
                }
                other => other.code().to_owned(),
            };
            heard.lock().unwrap().push(line);
        }
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Waits until the hooks heard exactly `expected` (hooks run after the call returns, in
    /// order), then forgets it.
    async fn expect(&self, expected: &[&str]) {
        let heard = self.0.clone();
        let got = eventually(&format!("the hooks hear {expected:?}"), || {
            let got = heard.lock().unwrap().clone();
            (got.len() >= expected.len()).then_some(got)
        })
        .await;
        assert_eq!(got, expected);
        self.take();
    }
}

/// A callback store over one slot whose saves fail while `failing` is set.
fn flaky_store(slot: Arc<Mutex<Option<TokenSet>>>, failing: Arc<AtomicBool>) -> CallbackTokenStore {
    flaky_store_counting(slot, failing, Arc::default())
}

type Slot = Arc<Mutex<Option<TokenSet>>>;

/// A client logged in on a [`flaky_store`], the store's slot, and its "failing" switch.
async fn logged_in_with_flaky_store(sandbox: &anaf_sandbox::Sandbox) -> (anaf::Client, Slot, Arc<AtomicBool>) {
    let slot: Slot = Arc::default();
    let failing = Arc::new(AtomicBool::new(false));
    let client = logged_in_with(
        sandbox,
        builder(sandbox).token_store(flaky_store(slot.clone(), failing.clone())),
    )
    .await;
    (client, slot, failing)
}

/// [`flaky_store`] counting the saves attempted.
fn flaky_store_counting(
    slot: Arc<Mutex<Option<TokenSet>>>,
    failing: Arc<AtomicBool>,
    attempts: Arc<AtomicUsize>,
) -> CallbackTokenStore {
    let load_from = slot.clone();
    CallbackTokenStore::new(
        move || Ok(load_from.lock().unwrap().clone()),
        move |tokens| {
            attempts.fetch_add(1, Ordering::SeqCst);
            if failing.load(Ordering::SeqCst) {
                return Err("the database is down".into());
            }
            *slot.lock().unwrap() = Some(tokens.clone());
            Ok(())
        },
    )
}

#[tokio::test]
async fn a_rotated_pair_the_store_refused_is_saved_on_the_next_call_and_reported() {
    let sandbox = sandbox();
    let slot: Arc<Mutex<Option<TokenSet>>> = Arc::default();
    let failing = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let heard = Heard::default();
    let client = logged_in_with(
        &sandbox,
        builder(&sandbox)
            .token_store(flaky_store_counting(slot.clone(), failing.clone(), attempts.clone()))
            .on_token_event(heard.hook()),
    )
    .await;
    age_tokens(&client).await;
    let spent = slot.lock().unwrap().clone().unwrap();
    heard.expect(&["changed:login:saved", "changed:set:saved"]).await;

    failing.store(true, Ordering::SeqCst);
    // The refresh happens, the save fails: the call still goes through with the new token.
    assert!(client.hello("during").await.unwrap().starts_with("Hello, during"));
    assert_eq!(refreshes(&sandbox), 1);
    heard.expect(&["changed:refresh:unsaved", "save_failed"]).await;
    let status = client.oauth().token_status().await.unwrap();
    assert!(status.unsaved && status.logged_in);
    assert_eq!(
        slot.lock().unwrap().as_ref(),
        Some(&spent),
        "the store still holds the spent pair"
    );
    let in_memory = client.oauth().tokens().await.unwrap().unwrap();
    assert_ne!(in_memory.refresh_token, spent.refresh_token);

    // The next call retries the save at once; later ones at most once a second. Still
    // failing: the calls go on, and the failure is not reported again.
    let before = attempts.load(Ordering::SeqCst);
    client.hello("next").await.unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), before + 1, "retried on the next call");
    client.hello("same second").await.unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), before + 1, "not on every call");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.hello("a second later").await.unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), before + 2);

    failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.hello("after").await.unwrap();
    // Hooks hear in order: had the failures been reported again, they would come first.
    heard.expect(&["saved"]).await;
    assert_eq!(
        slot.lock().unwrap().as_ref(),
        Some(&in_memory),
        "the rotated pair reached the store"
    );
    assert!(!client.oauth().token_status().await.unwrap().unsaved);
    assert_eq!(refreshes(&sandbox), 1);

    // The saved pair is the live one: a program started now refreshes with it.
    let next_run = builder(&sandbox)
        .token_store(flaky_store(slot.clone(), Arc::default()))
        .build()
        .unwrap();
    next_run.oauth().refresh().await.unwrap();
}

#[tokio::test]
async fn many_calls_at_once_make_one_save_attempt() {
    let sandbox = sandbox();
    let slot: Arc<Mutex<Option<TokenSet>>> = Arc::default();
    let failing = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let client = logged_in_with(
        &sandbox,
        builder(&sandbox).token_store(flaky_store_counting(slot, failing.clone(), attempts.clone())),
    )
    .await;
    failing.store(true, Ordering::SeqCst);
    let _ = client.oauth().refresh().await.unwrap_err();
    let before = attempts.load(Ordering::SeqCst);
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.hello(&format!("c{i}")).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(attempts.load(Ordering::SeqCst), before + 1, "one retry for all of them");
}

#[tokio::test]
async fn a_refresh_after_a_refused_save_spends_the_unsaved_pair() {
    let sandbox = sandbox();
    let (client, slot, failing) = logged_in_with_flaky_store(&sandbox).await;
    failing.store(true, Ordering::SeqCst);
    let _ = client.oauth().refresh().await.unwrap_err();
    // The store holds the spent pair, memory the live one: the next refresh must use the
    // live one (the spent one would be refused, and the user told to log in again).
    let _ = client.oauth().refresh().await.unwrap_err();
    assert_eq!(refreshes(&sandbox), 2);
    assert!(!client.oauth().token_status().await.unwrap().login_required);
    failing.store(false, Ordering::SeqCst);
    client.oauth().save_tokens().await.unwrap();
    let stored = slot.lock().unwrap().clone();
    assert_eq!(stored, client.oauth().tokens().await.unwrap());
    // And it works.
    age_tokens(&client).await;
    client.hello("x").await.unwrap();
    assert_eq!(refreshes(&sandbox), 3);
}

#[tokio::test]
async fn an_explicit_refresh_reports_a_refused_save_and_keeps_the_pair() {
    let sandbox = sandbox();
    let (client, slot, failing) = logged_in_with_flaky_store(&sandbox).await;
    failing.store(true, Ordering::SeqCst);
    // An explicit refresh reports the refused save as its error, and keeps the new pair.
    let error = client.oauth().refresh().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Internal);
    assert!(error.to_string().contains("the database is down"), "{error}");
    assert!(error.hint().unwrap().contains("kept in memory"));
    let renewed = client.oauth().tokens().await.unwrap().unwrap();
    failing.store(false, Ordering::SeqCst);
    client.oauth().save_tokens().await.unwrap();
    assert_eq!(slot.lock().unwrap().as_ref(), Some(&renewed));
}

#[tokio::test]
async fn a_pair_saved_by_another_program_meanwhile_wins_over_the_unsaved_one() {
    let sandbox = sandbox();
    let (client, slot, failing) = logged_in_with_flaky_store(&sandbox).await;
    failing.store(true, Ordering::SeqCst);
    let _ = client.oauth().refresh().await.unwrap_err();
    // Another program logs in again and saves its own pair.
    let other = builder(&sandbox).build().unwrap();
    let fresh_login = other.oauth().exchange_code(&code(&sandbox)).await.unwrap();
    *slot.lock().unwrap() = Some(fresh_login.clone());
    failing.store(false, Ordering::SeqCst);
    client.oauth().save_tokens().await.unwrap();
    assert_eq!(slot.lock().unwrap().as_ref(), Some(&fresh_login), "not overwritten");
    assert_eq!(client.oauth().tokens().await.unwrap(), Some(fresh_login));
}

/// Releases a blocked callback from a plain thread after a while, so a test whose callback
/// wrongly blocks the only async worker fails instead of hanging.
fn watchdog(release: mpsc::Sender<()>) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        let _ = release.send(());
    });
}

/// With one async worker, a store whose `load` blocks (waiting for the host, say a GIL) must
/// not stop another client's calls: the callback runs on the blocking pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocking_store_callback_does_not_stall_other_calls() {
    let sandbox = sandbox();
    let other = logged_in(&sandbox).await;
    let order: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let (release, released) = mpsc::channel::<()>();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let entered = Mutex::new(Some(entered_tx));
    let released = Mutex::new(released);
    let load_order = order.clone();
    let store = CallbackTokenStore::new(
        move || {
            if let Some(tx) = entered.lock().unwrap().take() {
                let _ = tx.send(());
            }
            released.lock().unwrap().recv().unwrap();
            load_order.lock().unwrap().push("load released");
            Ok(None)
        },
        |_| Ok(()),
    );
    let blocked = builder(&sandbox).token_store(store).build().unwrap();
    watchdog(release.clone());
    let first_call = tokio::spawn(async move { blocked.hello("x").await });
    entered_rx.await.unwrap();
    // The load is blocked now. The other client still gets through.
    other.hello("meanwhile").await.unwrap();
    order.lock().unwrap().push("other call done");
    release.send(()).unwrap();
    assert_eq!(first_call.await.unwrap().unwrap_err().kind(), ErrorKind::Unauthorized);
    assert_eq!(*order.lock().unwrap(), ["other call done", "load released"]);
}

/// The same for a rotation hook and the store's lock callback, which old code ran inline.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn blocking_hooks_and_lock_callbacks_do_not_stall_other_calls() {
    for blocking_part in ["hook", "lock"] {
        let sandbox = sandbox();
        let other = logged_in(&sandbox).await;
        let (release, released) = mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
        let entered = Arc::new(Mutex::new(Some(entered_tx)));
        // Blocks the first time only, until released.
        let block = move || {
            if let Some(tx) = entered.lock().unwrap().take() {
                let _ = tx.send(());
                released.lock().unwrap().recv().unwrap();
            }
        };
        let client = if blocking_part == "hook" {
            builder(&sandbox).on_token_event(move |_| block())
        } else {
            let store = CallbackTokenStore::new(|| Ok(None), |_| Ok(())).with_lock(
                move || {
                    block();
                    Ok(())
                },
                || {},
            );
            builder(&sandbox).token_store(store)
        }
        .build()
        .unwrap();
        watchdog(release.clone());
        let code = code(&sandbox);
        let login = tokio::spawn(async move { client.oauth().exchange_code(&code).await });
        entered_rx.await.unwrap();
        other.hello("meanwhile").await.unwrap();
        release.send(()).unwrap();
        login.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn hooks_may_not_call_the_blocking_api() {
    let sandbox = sandbox();
    let outcome: Arc<Mutex<Option<anaf::Error>>> = Arc::default();
    let seen = outcome.clone();
    let blocking_slot: Arc<Mutex<Option<anaf::blocking::Client>>> = Arc::default();
    let slot = blocking_slot.clone();
    let client = builder(&sandbox)
        .on_token_event(move |event| {
            if matches!(event, TokenEvent::Changed { .. })
                && let Some(client) = slot.lock().unwrap().as_ref()
            {
                *seen.lock().unwrap() = client.hello("from a hook").err();
            }
        })
        .build()
        .unwrap();
    *blocking_slot.lock().unwrap() = Some(anaf::blocking::Client::new(client.clone()));
    client.oauth().exchange_code(&code(&sandbox)).await.unwrap();
    let error = eventually("the hook ran", || outcome.lock().unwrap().take()).await;
    assert_eq!((error.kind(), error.field()), (ErrorKind::InvalidInput, Some("thread")));
    assert!(error.to_string().contains("callback"), "{error}");
}

/// An async store, as the asyncio and Node bindings implement it.
#[derive(Default)]
struct AsyncSlot {
    tokens: tokio::sync::Mutex<Option<TokenSet>>,
    calls: AtomicUsize,
}

impl AsyncTokenStore for AsyncSlot {
    fn load(&self) -> BoxFuture<'_, Result<Option<TokenSet>, anaf::Error>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(self.tokens.lock().await.clone())
        })
    }

    fn save<'a>(&'a self, tokens: &'a TokenSet) -> BoxFuture<'a, Result<(), anaf::Error>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            *self.tokens.lock().await = Some(tokens.clone());
            Ok(())
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), anaf::Error>> {
        Box::pin(async move {
            *self.tokens.lock().await = None;
            Ok(())
        })
    }
}

#[tokio::test]
async fn an_async_store_keeps_logins_and_rotations() {
    let sandbox = sandbox();
    let store = Arc::new(AsyncSlot::default());
    let client = logged_in_with(&sandbox, builder(&sandbox).async_token_store(store.clone())).await;
    age_tokens(&client).await;
    client.hello("x").await.unwrap();
    assert_eq!(refreshes(&sandbox), 1);
    let saved = store.tokens.lock().await.clone().unwrap();
    assert_eq!(Some(saved), client.oauth().tokens().await.unwrap());
    assert!(
        store.calls.load(Ordering::SeqCst) >= 4,
        "load, login save, set, refresh save"
    );
    client.oauth().clear_tokens().await.unwrap();
    assert!(store.tokens.lock().await.is_none());
}

#[tokio::test]
async fn two_clients_on_one_store_refresh_once() {
    let sandbox = sandbox();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let first = logged_in_with(&sandbox, builder(&sandbox).shared_token_store(store.clone())).await;
    // A program that makes one client per operation.
    let second = builder(&sandbox).shared_token_store(store.clone()).build().unwrap();
    age_tokens(&first).await;
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let client = if i % 2 == 0 { first.clone() } else { second.clone() };
            tokio::spawn(async move { client.hello(&format!("c{i}")).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(refreshes(&sandbox), 1, "one refresh token, spent once");
}

#[tokio::test]
async fn two_file_stores_of_one_path_in_one_process_refresh_once() {
    let sandbox = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let first = logged_in_with(&sandbox, builder(&sandbox).token_store(FileTokenStore::new(&path))).await;
    let second = builder(&sandbox)
        .token_store(FileTokenStore::new(&path))
        .build()
        .unwrap();
    age_tokens(&first).await;
    let (a, b) = tokio::join!(first.hello("a"), second.hello("b"));
    a.unwrap();
    b.unwrap();
    assert_eq!(refreshes(&sandbox), 1);
}

/// A store whose lock callback, once armed, tells when a change (here: a refresh) holds it
/// and makes it wait for a go-ahead.
struct SignallingStore {
    store: CallbackTokenStore,
    armed: Arc<AtomicBool>,
    locked: tokio::sync::mpsc::UnboundedReceiver<()>,
    go: mpsc::Sender<()>,
}

fn signalling_store(slot: Arc<Mutex<Option<TokenSet>>>) -> SignallingStore {
    let (locked_tx, locked) = tokio::sync::mpsc::unbounded_channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let armed = Arc::new(AtomicBool::new(false));
    let armed_in_lock = armed.clone();
    let (load_from, save_to, clear_it) = (slot.clone(), slot.clone(), slot);
    let store = CallbackTokenStore::new(
        move || Ok(load_from.lock().unwrap().clone()),
        move |t| {
            *save_to.lock().unwrap() = Some(t.clone());
            Ok(())
        },
    )
    .with_clear(move || {
        *clear_it.lock().unwrap() = None;
        Ok(())
    })
    .with_lock(
        move || {
            if armed_in_lock.swap(false, Ordering::SeqCst) {
                let _ = locked_tx.send(());
                let _ = go_rx.lock().unwrap().recv_timeout(Duration::from_secs(20));
            }
            Ok(())
        },
        || {},
    );
    SignallingStore {
        store,
        armed,
        locked,
        go,
    }
}

/// `set_tokens`, `clear_tokens` and `revoke` wait for a refresh in flight, so the refresh
/// cannot overwrite what they did.
#[tokio::test]
async fn set_clear_and_revoke_take_the_refresh_locks() {
    for operation in ["set_tokens", "clear_tokens", "revoke"] {
        let sandbox = sandbox();
        let slot: Arc<Mutex<Option<TokenSet>>> = Arc::default();
        let SignallingStore {
            store,
            armed,
            mut locked,
            go,
        } = signalling_store(slot.clone());
        let client = logged_in_with(&sandbox, builder(&sandbox).token_store(store)).await;
        let replacement = builder(&sandbox)
            .build()
            .unwrap()
            .oauth()
            .exchange_code(&code(&sandbox))
            .await
            .unwrap();
        armed.store(true, Ordering::SeqCst);
        let refreshing = {
            let client = client.clone();
            tokio::spawn(async move { client.oauth().refresh().await })
        };
        tokio::time::timeout(Duration::from_secs(20), locked.recv())
            .await
            .expect("the refresh took the store lock")
            .unwrap();
        // The refresh holds the locks now.
        let operation_done = {
            let client = client.clone();
            let replacement = replacement.clone();
            tokio::spawn(async move {
                match operation {
                    "set_tokens" => client.oauth().set_tokens(replacement).await,
                    "clear_tokens" => client.oauth().clear_tokens().await,
                    _ => client.oauth().revoke().await.map(|_| ()),
                }
            })
        };
        // Give the operation every chance to run ahead (it must not).
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!operation_done.is_finished(), "{operation} waited for the refresh");
        go.send(()).unwrap();
        refreshing.await.unwrap().unwrap();
        operation_done.await.unwrap().unwrap();
        let stored = slot.lock().unwrap().clone();
        let cached = client.oauth().tokens().await.unwrap();
        if operation == "set_tokens" {
            assert_eq!(
                stored.as_ref(),
                Some(&replacement),
                "{operation}: the refresh did not overwrite"
            );
            assert_eq!(cached.as_ref(), Some(&replacement));
        } else {
            assert!(
                stored.is_none(),
                "{operation}: no refresh re-saved tokens after the logout"
            );
            assert!(cached.is_none());
        }
    }
}

#[tokio::test]
async fn a_refresh_answer_lost_after_anaf_rotated_says_log_in_again_once() {
    let sandbox = sandbox();
    let heard = Heard::default();
    let client = logged_in_with(&sandbox, builder(&sandbox).on_token_event(heard.hook())).await;
    age_tokens(&client).await;
    // Hooks run after the calls return: wait for these two rather than racing them.
    heard.expect(&["changed:login:saved", "changed:set:saved"]).await;
    // ANAF rotates the pair, then the connection drops before the answer.
    sandbox
        .inject_fault(FaultSpec {
            endpoint: "oauth.token".into(),
            fault: Fault::AcceptThenDrop,
            times: Some(1),
        })
        .unwrap();
    let error = client.hello("x").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized, "{error}");
    assert!(error.hint().unwrap().contains("log in again"), "{error}");
    assert!(error.to_string().contains("answer was lost"), "{error}");
    // Asked once more with the same token (in case ANAF never saw the first): refused.
    // Token requests: the login, the lost refresh, the second try.
    assert_eq!(requests_to(&sandbox, "oauth.token"), 3);
    heard.expect(&["login_required"]).await;
    assert!(client.oauth().token_status().await.unwrap().login_required);
    // Later calls say the same without trying again.
    let again = client.hello("y").await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Unauthorized);
    assert_eq!(requests_to(&sandbox, "oauth.token"), 3, "no more refresh attempts");
    // A new login ends the state; the hooks heard "login required" only once before it.
    client.oauth().exchange_code(&code(&sandbox)).await.unwrap();
    heard.expect(&["changed:login:saved"]).await;
    assert!(!client.oauth().token_status().await.unwrap().login_required);
    client.hello("z").await.unwrap();
}

#[tokio::test]
async fn a_refresh_answer_lost_before_anaf_saw_it_is_asked_again() {
    let sandbox = sandbox();
    let client = logged_in(&sandbox).await;
    age_tokens(&client).await;
    // The connection breaks before the identity provider handles the request.
    sandbox
        .inject_fault(FaultSpec {
            endpoint: "oauth.token".into(),
            fault: Fault::Reset,
            times: Some(1),
        })
        .unwrap();
    client.hello("x").await.unwrap();
    assert!(!client.oauth().token_status().await.unwrap().login_required);
}

#[tokio::test]
async fn token_events_tell_a_login_from_a_rotation() {
    let sandbox = sandbox();
    let changes: Arc<Mutex<Vec<TokenChange>>> = Arc::default();
    let seen = changes.clone();
    let client = logged_in_with(
        &sandbox,
        builder(&sandbox).on_token_event(move |event| {
            if let TokenEvent::Changed { change, .. } = event {
                seen.lock().unwrap().push(*change);
            }
        }),
    )
    .await;
    client.oauth().refresh().await.unwrap();
    client.oauth().clear_tokens().await.unwrap();
    let changes = eventually("both changes are heard", || {
        let changes = changes.lock().unwrap().clone();
        (changes.len() >= 2).then_some(changes)
    })
    .await;
    assert_eq!(changes, [TokenChange::Login, TokenChange::Refresh]);
}

#[tokio::test]
async fn a_new_login_saved_by_another_program_ends_login_required() {
    let sandbox = sandbox();
    let slot: Arc<Mutex<Option<TokenSet>>> = Arc::default();
    let client = logged_in_with(
        &sandbox,
        builder(&sandbox).token_store(flaky_store(slot.clone(), Arc::default())),
    )
    .await;
    age_tokens(&client).await;
    sandbox
        .inject_fault(FaultSpec {
            endpoint: "oauth.token".into(),
            fault: Fault::AcceptThenDrop,
            times: Some(1),
        })
        .unwrap();
    assert_eq!(client.hello("x").await.unwrap_err().kind(), ErrorKind::Unauthorized);
    // Another program sharing the store logs the user in again.
    let other = builder(&sandbox).build().unwrap();
    let new_login = other.oauth().exchange_code(&code(&sandbox)).await.unwrap();
    *slot.lock().unwrap() = Some(new_login.clone());
    // The store is looked at again at most once a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(client.hello("y").await.unwrap().starts_with("Hello, y"));
    assert_eq!(client.oauth().tokens().await.unwrap(), Some(new_login));
    assert!(!client.oauth().token_status().await.unwrap().login_required);
}

#[tokio::test]
async fn callback_stores_with_one_sharing_key_refresh_once() {
    let sandbox = sandbox();
    let slot: Arc<Mutex<Option<TokenSet>>> = Arc::default();
    // A program that makes a new client, and a new store, for each operation.
    let client_for_one_operation = || {
        builder(&sandbox)
            .token_store(flaky_store(slot.clone(), Arc::default()).with_sharing_key("erp-db:company-1"))
            .build()
            .unwrap()
    };
    let first = client_for_one_operation();
    first.oauth().exchange_code(&code(&sandbox)).await.unwrap();
    let second = client_for_one_operation();
    age_tokens(&first).await;
    let (a, b) = tokio::join!(first.hello("a"), second.hello("b"));
    a.unwrap();
    b.unwrap();
    assert_eq!(refreshes(&sandbox), 1);
}

/// A runtime shut down in the middle of a refresh (a host unloading the library) still
/// releases the store's lock: no later change in the process waits for it forever.
#[test]
fn a_refresh_dropped_with_its_runtime_releases_the_store_lock() {
    let sandbox = sandbox();
    let locks = Arc::new(AtomicUsize::new(0));
    let unlocks = Arc::new(AtomicUsize::new(0));
    let (l, u) = (locks.clone(), unlocks.clone());
    let slot: Arc<Mutex<Option<TokenSet>>> = Arc::default();
    let store = Arc::new(flaky_store(slot, Arc::default()).with_lock(
        move || {
            l.fetch_add(1, Ordering::SeqCst);
            Ok(())
        },
        move || {
            u.fetch_add(1, Ordering::SeqCst);
        },
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = builder(&sandbox).shared_token_store(store).build().unwrap();
    runtime.block_on(async {
        client.oauth().exchange_code(&code(&sandbox)).await.unwrap();
        age_tokens(&client).await;
    });
    sandbox
        .inject_fault(FaultSpec {
            endpoint: "oauth.token".into(),
            fault: Fault::Latency { ms: 5_000 },
            times: Some(1),
        })
        .unwrap();
    let refreshing = client.clone();
    runtime.spawn(async move { refreshing.oauth().refresh().await });
    // Wait until the refresh holds the lock, then pull the runtime away.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while locks.load(Ordering::SeqCst) <= unlocks.load(Ordering::SeqCst) {
        assert!(std::time::Instant::now() < deadline, "the refresh never took the lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    assert_eq!(
        locks.load(Ordering::SeqCst),
        unlocks.load(Ordering::SeqCst),
        "every lock released"
    );
}
