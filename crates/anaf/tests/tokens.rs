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

/// A pair with a fixed expiry, so that a loaded pair compares equal to the saved one.
fn pair(access: &str) -> TokenSet {
    let expiry = chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap();
    TokenSet::new(access, format!("refresh-{access}"), expiry, None)
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_file_store_replaces_its_file_in_a_folder_named_with_diacritics() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("Ștefănescu și fiii SRL");
    let store = FileTokenStore::new(folder.join("jetoane-țară.json"));
    store.save(&pair("first")).unwrap();
    // The next saves replace an existing file (on Windows too, where a rename over an
    // existing file is not the default).
    store.save(&pair("second")).unwrap();
    assert_eq!(store.load().unwrap(), Some(pair("second")));
    {
        let _lock = store.lock().unwrap();
        store.save(&pair("third")).unwrap();
    }
    assert_eq!(
        FileTokenStore::new(folder.join("jetoane-țară.json")).load().unwrap(),
        Some(pair("third"))
    );
    assert_eq!(
        names_in(&folder),
        ["jetoane-țară.json", "jetoane-țară.json.lock"],
        "no temporary file left"
    );
    store.clear().unwrap();
    assert_eq!(store.load().unwrap(), None);
}

/// What replaces mode 0600 on Windows, checked through Windows' own API.
#[cfg(windows)]
mod windows {
    use std::fs::OpenOptions;
    use std::os::windows::fs::OpenOptionsExt;
    use std::path::Path;
    use std::ptr::null_mut;

    use anaf::{ErrorKind, FileTokenStore, TokenStore};
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, LocalFree};
    use windows_sys::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW, GetNamedSecurityInfoW,
        SDDL_REVISION_1, SE_FILE_OBJECT,
    };
    use windows_sys::Win32::Security::{
        DACL_SECURITY_INFORMATION, GetTokenInformation, TOKEN_QUERY, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::Storage::FileSystem::FILE_SHARE_READ;
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    use super::{names_in, pair};

    fn wide(path: &Path) -> Vec<u16> {
        use std::os::windows::ffi::OsStrExt;
        path.as_os_str().encode_wide().chain([0]).collect()
    }

    /// Takes a string Windows allocated (freed here with LocalFree).
    unsafe fn take_wide(text: *mut u16) -> String {
        let len = (0..).take_while(|&i| unsafe { *text.add(i) } != 0).count();
        let string = String::from_utf16(unsafe { std::slice::from_raw_parts(text, len) }).unwrap();
        unsafe { LocalFree(text.cast()) };
        string
    }

    /// The access list of a file in SDDL, e.g. `D:P(A;;FA;;;S-1-5-21-...)`.
    fn access_list(path: &Path) -> String {
        unsafe {
            let (mut dacl, mut descriptor) = (null_mut(), null_mut());
            let status = GetNamedSecurityInfoW(
                wide(path).as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                null_mut(),
                null_mut(),
                &mut dacl,
                null_mut(),
                &mut descriptor,
            );
            assert_eq!(status, 0, "GetNamedSecurityInfoW({})", path.display());
            let mut text = null_mut();
            let converted = ConvertSecurityDescriptorToStringSecurityDescriptorW(
                descriptor,
                SDDL_REVISION_1,
                DACL_SECURITY_INFORMATION,
                &mut text,
                null_mut(),
            );
            LocalFree(descriptor);
            assert_ne!(converted, 0);
            take_wide(text)
        }
    }

    /// The SID of the user running the tests, e.g. `S-1-5-21-...`.
    fn user_sid() -> String {
        unsafe {
            let mut token: HANDLE = null_mut();
            assert_ne!(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token), 0);
            let mut buffer = vec![0u64; 64];
            let mut len = 0;
            let filled = GetTokenInformation(token, TokenUser, buffer.as_mut_ptr().cast(), 512, &mut len);
            CloseHandle(token);
            assert_ne!(filled, 0);
            let mut text = null_mut();
            assert_ne!(
                ConvertSidToStringSidW((*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid, &mut text),
                0
            );
            take_wide(text)
        }
    }

    /// Checks an access list in SDDL: every entry allows (A), none is inherited from the
    /// folder (ID), one gives the user full access (FA), and nobody else is named but SYSTEM
    /// (SY). Windows shows exactly `D:P(A;;FA;;;<user>)`; Wine, which keeps a file's access
    /// as Unix mode bits, adds SYSTEM, and would name Everyone (WD) had the file been made
    /// without an access list.
    fn assert_for_the_user_alone(access_list: &str, user: &str) {
        let entries: Vec<Vec<&str>> = access_list
            .split('(')
            .skip(1)
            .map(|entry| entry.trim_end_matches(')').split(';').collect())
            .collect();
        for entry in &entries {
            assert_eq!(entry[0], "A", "{access_list}");
            assert!(!entry[1].contains("ID"), "an inherited entry: {access_list}");
            assert!(
                entry[5] == user || entry[5] == "SY",
                "someone else named: {access_list}"
            );
        }
        assert!(
            entries.iter().any(|entry| entry[2] == "FA" && entry[5] == user),
            "no full access for {user}: {access_list}"
        );
    }

    #[test]
    fn the_token_file_and_its_lock_grant_access_to_their_user_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let store = FileTokenStore::new(&path);
        store.save(&pair("a")).unwrap();
        let _lock = store.lock().unwrap();
        let user = user_sid();
        assert_for_the_user_alone(&access_list(&path), &user);
        assert_for_the_user_alone(&access_list(&dir.path().join("tokens.json.lock")), &user);
        // A save replaces the file by a new one, made the same way.
        store.save(&pair("b")).unwrap();
        assert_for_the_user_alone(&access_list(&path), &user);
    }

    /// Opens the token file the way an antivirus or an indexer may: sharing reads only, so
    /// that nobody can replace it while it is open.
    fn hold(path: &Path) -> std::fs::File {
        OpenOptions::new()
            .read(true)
            .share_mode(FILE_SHARE_READ)
            .open(path)
            .unwrap()
    }

    #[test]
    fn a_program_reading_the_token_file_delays_a_save_without_failing_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(dir.path().join("tokens.json"));
        store.save(&pair("old")).unwrap();
        let reader = hold(store.path());
        let reading = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(150));
            drop(reader);
        });
        store.save(&pair("new")).unwrap();
        reading.join().unwrap();
        assert_eq!(store.load().unwrap(), Some(pair("new")));
        assert_eq!(names_in(dir.path()), ["tokens.json"]);
    }

    #[test]
    fn a_token_file_held_open_fails_the_save_and_keeps_the_old_pair() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(dir.path().join("tokens.json"));
        store.save(&pair("old")).unwrap();
        let reader = hold(store.path());
        let error = store.save(&pair("new")).unwrap_err();
        drop(reader);
        assert_eq!(error.kind(), ErrorKind::Internal);
        assert!(error.to_string().contains("cannot write the token file"), "{error}");
        assert_eq!(store.load().unwrap(), Some(pair("old")));
        assert_eq!(names_in(dir.path()), ["tokens.json"], "the temporary file is removed");
    }
}
