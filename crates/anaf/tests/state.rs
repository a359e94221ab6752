//! The state database (feature `state`) on both engines: SQLite always, PostgreSQL when
//! `ANAF_TEST_POSTGRES` names a server (`scripts/postgres start`; `scripts/test-all` sets it
//! and `ANAF_REQUIRE_POSTGRES=1`, so CI cannot skip it). Each test gets a database of its own.

mod common;
#[path = "common/databases.rs"]
mod databases;

use std::sync::Arc;

use anaf::ErrorKind;
use anaf::quota::{Charge, Counter, DailyLimits, QuotaLedger};
use anaf::state::{Database, SCHEMA_VERSION};
use chrono::NaiveDate;
use common::*;
use databases::{child_builder, child_client, child_process, child_var, fresh_databases};
use sqlx::{Connection, Executor};

fn day() -> NaiveDate {
    "2026-12-02".parse().unwrap()
}

#[tokio::test]
async fn the_schema_is_made_once_by_processes_opening_together_and_a_newer_one_is_refused() {
    let (_dir, databases) = fresh_databases().await;
    for (engine, url) in databases {
        let opened = futures_util::future::join_all((0..4).map(|_| Database::open(&url))).await;
        let database = opened
            .into_iter()
            .next()
            .unwrap()
            .unwrap_or_else(|e| panic!("{engine}: {e}"));
        assert_eq!(database.schema_version().await.unwrap(), SCHEMA_VERSION, "{engine}");
        let mut raw = sqlx::AnyConnection::connect(&sqlite_url(&url)).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM anaf_schema_version")
            .fetch_one(&mut raw)
            .await
            .unwrap();
        assert_eq!(applied, SCHEMA_VERSION, "{engine}: each migration applied once");
        // Opening again changes nothing.
        Database::open(&url).await.unwrap();
        // A newer library wrote it: refused, not misread.
        raw.execute("INSERT INTO anaf_schema_version (version, applied_at) VALUES (99, 'later')")
            .await
            .unwrap();
        let error = Database::open(&url).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Internal, "{engine}");
        assert!(error.to_string().contains("newer version"), "{engine}: {error}");
        database.close().await;
    }
}

/// sqlx's `Any` reads a plain path only as a `sqlite:` URL.
fn sqlite_url(url: &str) -> String {
    if url.starts_with("postgres") {
        url.to_owned()
    } else {
        format!("sqlite://{url}")
    }
}

#[tokio::test]
async fn concurrent_charges_through_separate_pools_never_exceed_the_limit() {
    sqlx::any::install_default_drivers();
    let (_dir, databases) = fresh_databases().await;
    for (engine, url) in databases {
        let pools = [Database::open(&url).await.unwrap(), Database::open(&url).await.unwrap()];
        let charge = Charge {
            counter: Counter::List,
            key: "8000000000".into(),
        };
        let tasks = (0..8).map(|task| {
            let database = pools[task % 2].clone();
            let charge = charge.clone();
            tokio::spawn(async move {
                let mut granted = 0;
                for _ in 0..40 {
                    if database.charge(day(), &charge, 100).await.unwrap().is_some() {
                        granted += 1;
                    }
                }
                granted
            })
        });
        let granted: u32 = futures_util::future::join_all(tasks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        assert_eq!(granted, 100, "{engine}: 320 attempts, a budget of 100");
        assert_eq!(
            pools[0].counts(day()).await.unwrap(),
            vec![(charge.clone(), 100)],
            "{engine}"
        );
        // ANAF's limit answer spends a fresh budget; the next day starts from nothing.
        let other = Charge {
            counter: Counter::Download,
            key: "42".into(),
        };
        pools[1].exhaust(day(), &other, 9).await.unwrap();
        assert_eq!(pools[0].charge(day(), &other, 9).await.unwrap(), None, "{engine}");
        let next = day().succ_opt().unwrap();
        assert_eq!(pools[0].charge(next, &other, 9).await.unwrap(), Some(1), "{engine}");
    }
}

const CHILD: &str = "child_process_lists_messages_until_the_ledger_says_no";

/// Run as a child process by the test below (ignored in a normal run): lists messages until
/// the shared ledger refuses, and prints how many calls it made.
#[test]
#[ignore = "a helper process for processes_sharing_a_database_never_exceed_a_daily_limit"]
fn child_process_lists_messages_until_the_ledger_says_no() {
    let limit = child_var("ANAF_LIMIT").parse().unwrap();
    let client = child_client(|builder, database| {
        builder
            .quota_ledger(Arc::new(database))
            .daily_limits(DailyLimits::all(limit))
            .requests_per_minute(None)
    });
    let mut calls = 0;
    loop {
        match client.efactura().list_messages(CIF, 10, None) {
            Ok(_) => calls += 1,
            Err(error) if error.kind() == ErrorKind::QuotaExhausted => break,
            Err(error) => panic!("{error}"),
        }
    }
    println!("calls={calls}");
}

#[tokio::test(flavor = "multi_thread")]
async fn processes_sharing_a_database_never_exceed_a_daily_limit() {
    let (_dir, databases) = fresh_databases().await;
    for (engine, url) in databases {
        let sandbox = sandbox();
        let children: Vec<_> = (0..3)
            .map(|_| {
                child_process(CHILD, &sandbox, &url)
                    .env("ANAF_LIMIT", "25")
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut calls = 0;
        for child in children {
            let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
                .await
                .unwrap();
            assert!(output.status.success(), "{engine}: a child process failed");
            let text = String::from_utf8(output.stdout).unwrap();
            let count = text.split("calls=").nth(1).unwrap().split_whitespace().next().unwrap();
            calls += count.parse::<usize>().unwrap();
        }
        assert_eq!(calls, 25, "{engine}: three processes, one budget");
        assert_eq!(requests_to(&sandbox, "efactura.list"), 25, "{engine}");
    }
}

#[tokio::test]
async fn a_client_on_the_database_ledger_reports_the_budget_left() {
    let (_dir, databases) = fresh_databases().await;
    for (engine, url) in databases {
        let sandbox = sandbox();
        let database = Arc::new(Database::open(&url).await.unwrap());
        let client = logged_in_with(
            &sandbox,
            builder(&sandbox)
                .quota_ledger(database)
                .daily_limits(DailyLimits::all(2)),
        )
        .await;
        for _ in 0..2 {
            client.efactura().list_messages(CIF, 10, None).await.unwrap();
        }
        let error = client.efactura().list_messages(CIF, 10, None).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::QuotaExhausted, "{engine}");
        let usage = client.quota_usage().await.unwrap();
        assert_eq!(usage.len(), 1, "{engine}");
        assert_eq!(
            (usage[0].counter, usage[0].used, usage[0].remaining),
            (Counter::List, 2, 0)
        );
        assert_eq!(usage[0].key, CIF);
        // What a binding hands to its host: the core's JSON.
        let json = serde_json::to_value(&usage[0]).unwrap();
        assert_eq!(json["counter"], "list");
        assert_eq!(json["scope"], "cif");
    }
}

#[tokio::test]
async fn a_bad_database_location_is_a_clear_error() {
    let error = Database::open("mysql://localhost/x").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(error.field(), Some("database"));
    let error = Database::open("").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    // A password in the URL never shows in the error.
    let error = Database::open("postgres://anaf:s3cret-pw@127.0.0.1:1/db")
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("s3cret-pw"), "{error}");
    assert!(!format!("{error:?}").contains("s3cret-pw"));
}

#[tokio::test]
async fn a_memory_database_is_one_database_for_all_its_clones() {
    let database = Database::open("sqlite::memory:").await.unwrap();
    let charge = Charge {
        counter: Counter::Status,
        key: "1".into(),
    };
    let tasks = (0..6).map(|_| {
        let database = database.clone();
        let charge = charge.clone();
        tokio::spawn(async move { database.charge(day(), &charge, 4).await.unwrap() })
    });
    let granted = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|outcome| outcome.as_ref().unwrap().is_some())
        .count();
    assert_eq!(granted, 4);
    assert_eq!(database.schema_version().await.unwrap(), SCHEMA_VERSION);
}

// --- Tokens in the database

#[tokio::test]
async fn tokens_in_the_database_are_one_login_for_every_client_that_names_it() {
    let (_dir, databases) = fresh_databases().await;
    for (engine, url) in databases {
        let sandbox = sandbox();
        let first = logged_in_with(
            &sandbox,
            builder(&sandbox)
                .state(Database::open(&url).await.unwrap())
                .database_tokens("company-42"),
        )
        .await;
        first.hello("first").await.unwrap();
        // Another pool on the same database (as another machine would open it).
        let second = builder(&sandbox)
            .state(Database::open(&url).await.unwrap())
            .database_tokens("company-42")
            .build()
            .unwrap();
        assert!(
            second.hello("second").await.unwrap().starts_with("Hello, second"),
            "{engine}"
        );
        let renewed = second.oauth().refresh().await.unwrap();
        assert_eq!(first.oauth().tokens().await.unwrap(), Some(renewed), "{engine}");
        // Another name is another login.
        let other = builder(&sandbox)
            .state(Database::open(&url).await.unwrap())
            .database_tokens("company-43")
            .build()
            .unwrap();
        let error = other.hello("other").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unauthorized, "{engine}");
        // Logging out clears the row for everyone.
        first.oauth().revoke().await.unwrap();
        let third = builder(&sandbox)
            .state(Database::open(&url).await.unwrap())
            .database_tokens("company-42")
            .build()
            .unwrap();
        assert_eq!(third.oauth().tokens().await.unwrap(), None, "{engine}");
    }
}

#[tokio::test]
async fn database_tokens_need_a_database_and_exclude_a_token_store() {
    let sandbox = sandbox();
    let error = builder(&sandbox).database_tokens("x").build().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("state database"), "{error}");
    let database = Database::open("sqlite::memory:").await.unwrap();
    let error = builder(&sandbox)
        .state(database.clone())
        .token_store(anaf::MemoryTokenStore::new())
        .database_tokens("x")
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    let error = builder(&sandbox)
        .state(database)
        .database_tokens(" ")
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
}

const REFRESHING_CHILD: &str = "child_process_calls_hello_with_the_tokens_in_the_database";

/// Run as a child process by the test below (ignored in a normal run): one call with the
/// tokens the parent left expired in the database, started with the other children.
#[test]
#[ignore = "a helper process for processes_sharing_tokens_in_a_database_refresh_once"]
fn child_process_calls_hello_with_the_tokens_in_the_database() {
    let (builder, database) = child_builder();
    let client = builder
        .state(database)
        .database_tokens("company-42")
        .build_blocking()
        .unwrap();
    let go = std::path::PathBuf::from(child_var("ANAF_GO_FILE"));
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    client.hello("child").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn processes_sharing_tokens_in_a_database_refresh_once() {
    let (dir, databases) = fresh_databases().await;
    for (engine, url) in databases {
        let sandbox = sandbox();
        let parent = logged_in_with(
            &sandbox,
            builder(&sandbox)
                .state(Database::open(&url).await.unwrap())
                .database_tokens("company-42"),
        )
        .await;
        age_tokens(&parent).await;
        let go = dir.path().join(format!("go-{engine}"));
        let children: Vec<_> = (0..4)
            .map(|_| {
                child_process(REFRESHING_CHILD, &sandbox, &url)
                    .env("ANAF_GO_FILE", &go)
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::fs::write(&go, b"go").unwrap();
        for mut child in children {
            let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
                .await
                .unwrap();
            assert!(status.success(), "{engine}: a child process failed");
        }
        assert_eq!(refreshes(&sandbox), 1, "{engine}: four processes, one refresh");
        assert_eq!(
            sandbox
                .requests()
                .iter()
                .filter(|r| r.endpoint.as_deref() == Some("hello") && r.status == 200)
                .count(),
            4,
            "{engine}"
        );
        // Nothing is stranded: the parent adopts the rotated pair (its refresh finds it newer
        // than its own), which refreshes again.
        parent.oauth().refresh().await.unwrap();
        assert_eq!(refreshes(&sandbox), 1, "{engine}: adopted, not refreshed");
        parent.oauth().refresh().await.unwrap();
        assert_eq!(refreshes(&sandbox), 2, "{engine}");
    }
}

const LOCKING_CHILD: &str = "child_process_takes_the_token_lock_and_waits_to_be_killed";

#[tokio::test]
#[ignore = "a helper process for a_process_that_dies_holding_the_token_lock_releases_it"]
async fn child_process_takes_the_token_lock_and_waits_to_be_killed() {
    let database = Database::open(&child_var("ANAF_STATE")).await.unwrap();
    let store = anaf::state::DatabaseTokenStore::new(database, "company-42").unwrap();
    anaf::AsyncTokenStore::lock(&store).await.unwrap();
    std::fs::write(child_var("ANAF_LOCKED_FILE"), b"locked").unwrap();
    std::future::pending::<()>().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_that_dies_holding_the_token_lock_releases_it() {
    let (dir, databases) = fresh_databases().await;
    for (engine, url) in databases {
        let sandbox = sandbox();
        let client = logged_in_with(
            &sandbox,
            builder(&sandbox)
                .state(Database::open(&url).await.unwrap())
                .database_tokens("company-42"),
        )
        .await;
        let locked = dir.path().join(format!("locked-{engine}"));
        let mut child = child_process(LOCKING_CHILD, &sandbox, &url)
            .env("ANAF_LOCKED_FILE", &locked)
            .spawn()
            .unwrap();
        while !locked.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // While the child holds the lock, a refresh waits for it.
        let refresh = tokio::spawn({
            let client = client.clone();
            async move { client.oauth().refresh().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!refresh.is_finished(), "{engine}: the refresh waits for the lock");
        assert_eq!(refreshes(&sandbox), 0, "{engine}");
        child.kill().unwrap();
        child.wait().unwrap();
        let renewed = tokio::time::timeout(std::time::Duration::from_secs(30), refresh)
            .await
            .unwrap_or_else(|_| panic!("{engine}: the dead process's lock was never released"))
            .unwrap()
            .unwrap();
        assert!(renewed.expires_at > chrono::Utc::now(), "{engine}");
        assert_eq!(refreshes(&sandbox), 1, "{engine}");
    }
}
