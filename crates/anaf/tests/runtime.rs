//! The shared runtime's lifecycle: worker threads set before first use, an explicit shutdown
//! for hosts that unload the library (and a restart after it), and a child process after
//! `fork()` that works on its own. The runtime is one per process, so these tests take turns.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use anaf::ErrorKind;
use anaf::runtime::{self, RuntimeOptions};
use common::*;

static TURN: Mutex<()> = Mutex::new(());

/// Threads of this process whose name starts with `anaf-runtime` (Linux only).
#[cfg(target_os = "linux")]
fn runtime_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("anaf-runtime"))
        .count()
}

#[test]
fn worker_threads_shutdown_and_restart() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let sandbox = sandbox();
    let client = builder(&sandbox).build_blocking().unwrap();
    // Make sure no runtime runs yet (another test of this binary may have started one).
    runtime::shutdown(Duration::from_secs(5)).unwrap();
    runtime::configure(RuntimeOptions::default().worker_threads(3)).unwrap();
    client.oauth().exchange_code(&code(&sandbox)).unwrap();
    assert_eq!(runtime::handle().unwrap().metrics().num_workers(), 3);
    let refused = runtime::configure(RuntimeOptions::default().worker_threads(1)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidInput, "too late: it runs");

    // A host unloading the library: everything stops.
    runtime::shutdown(Duration::from_secs(5)).unwrap();
    #[cfg(target_os = "linux")]
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while runtime_threads() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "runtime threads left after shutdown"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // ...and the same client works again on a new runtime.
    runtime::configure(RuntimeOptions::default().worker_threads(1)).unwrap();
    assert!(client.hello("again").unwrap().starts_with("Hello, again"));
    assert_eq!(runtime::handle().unwrap().metrics().num_workers(), 1);
}

#[test]
fn shutdown_waits_for_no_one_and_refuses_while_calls_run() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let sandbox = sandbox();
    let client = builder(&sandbox).build_blocking().unwrap();
    client.oauth().exchange_code(&code(&sandbox)).unwrap();
    sandbox
        .inject_fault(anaf_sandbox::FaultSpec {
            endpoint: "hello".into(),
            fault: anaf_sandbox::Fault::Latency { ms: 1_000 },
            times: Some(1),
        })
        .unwrap();
    let calling = {
        let client = client.clone();
        std::thread::spawn(move || client.hello("slow"))
    };
    // Wait until the call holds the runtime.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        std::thread::sleep(Duration::from_millis(20));
        match runtime::shutdown(Duration::from_secs(1)) {
            Err(e) => break e,
            Ok(()) => {
                assert!(std::time::Instant::now() < deadline, "the call never started");
                let _ = runtime::handle();
            }
        }
    };
    assert_eq!(
        (refused.kind(), refused.field()),
        (ErrorKind::InvalidInput, Some("runtime"))
    );
    calling.join().unwrap().unwrap();
    runtime::shutdown(Duration::from_secs(5)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_forked_child_makes_its_own_calls() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let sandbox = sandbox();
    let client = builder(&sandbox).build_blocking().unwrap();
    client.oauth().exchange_code(&code(&sandbox)).unwrap();
    // The parent's runtime runs and its pool holds a connection.
    client.hello("parent").unwrap();
    // SAFETY: the child only makes a call through the client and exits without unwinding;
    // no lock of the client is held at this point (no call is in progress).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = matches!(client.hello("child"), Ok(text) if text.starts_with("Hello, child"));
        // SAFETY: ends the child at once, without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            break;
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the child hung: the parent's runtime or pool was used after fork");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child's call failed"
    );
    assert!(
        sandbox
            .requests()
            .iter()
            .any(|r| r.path.contains("name=child") && r.status == 200)
    );
    // The parent goes on as before.
    client.hello("parent again").unwrap();
}
