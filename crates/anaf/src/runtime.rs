//! The runtime behind the blocking API and the bindings: one multi-thread tokio runtime per
//! process, started on first use.
//!
//! - [`configure`] sets the number of worker threads before first use (default 2: the work is
//!   I/O-bound).
//! - [`shutdown`] stops it, for hosts that unload the library (a Delphi or C# program
//!   freeing the DLL, a plug-in host). A later call starts a new one; clients made before
//!   stay usable (their pooled connections are dropped and made again).
//! - After `fork()` (a Python worker pool) the child has none of the parent's threads: the
//!   first use in the child notices the new process id and starts a runtime of its own (the
//!   parent's is left untouched: dropping it would wait for threads that do not exist there),
//!   and each client rebuilds its connection pool likewise. Fork while no call is in progress:
//!   a lock held by another thread at the moment of the fork stays held in the child.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// How the runtime is built. Set it with [`configure`] before the first blocking call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeOptions {
    /// Async worker threads (at least 1).
    pub worker_threads: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions { worker_threads: 2 }
    }
}

impl RuntimeOptions {
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }
}

struct Running {
    pid: u32,
    runtime: Arc<tokio::runtime::Runtime>,
}

struct State {
    options: RuntimeOptions,
    running: Option<Running>,
}

static STATE: Mutex<State> = Mutex::new(State {
    options: RuntimeOptions { worker_threads: 2 },
    running: None,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sets how the runtime is built. Refused once it runs (call [`shutdown`] first).
pub fn configure(options: RuntimeOptions) -> Result<(), Error> {
    let mut state = state();
    if state.running.as_ref().is_some_and(|r| r.pid == std::process::id()) {
        return Err(Error::invalid_input(
            "runtime",
            "the runtime is already running; configure it before the first call (or shut it down first)",
        ));
    }
    state.options = RuntimeOptions {
        worker_threads: options.worker_threads.max(1),
    };
    Ok(())
}

/// The runtime of this process, started if needed (again after `fork()` or [`shutdown`]).
fn current() -> Result<Arc<tokio::runtime::Runtime>, Error> {
    let mut state = state();
    let pid = std::process::id();
    if let Some(running) = &state.running {
        if running.pid == pid {
            return Ok(running.runtime.clone());
        }
        // Inherited through fork(): its threads live in the parent only. Leaked on purpose.
        if let Some(inherited) = state.running.take() {
            std::mem::forget(inherited.runtime);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(state.options.worker_threads)
        .thread_name("anaf-runtime")
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|e| Error::internal("cannot start the anaf runtime").with_source(e))?;
    state.running = Some(Running {
        pid,
        runtime: runtime.clone(),
    });
    Ok(runtime)
}

/// A handle to the runtime (started if needed), for bindings that spawn async calls on it.
pub fn handle() -> Result<tokio::runtime::Handle, Error> {
    Ok(current()?.handle().clone())
}

/// Runs `future` to completion on the runtime, blocking this thread. Refused (an
/// [`ErrorKind::InvalidInput`] error naming the field `thread`) on a thread that runs async
/// tasks: inside a tokio runtime, or inside an `anaf` callback (which runs on the library's
/// threads); blocking there would stall or deadlock every call.
pub fn block_on<T>(future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "the blocking API was called from a thread that runs async tasks (inside an async runtime, or inside an \
             anaf callback)",
        )
        .with_field("thread")
        .with_hint("use the async API there, or call from an ordinary thread of your program"));
    }
    current()?.block_on(future)
}

/// Stops the runtime, waiting at most `timeout` for its tasks. Refused while blocking calls
/// are still running (they hold the runtime), and from inside the runtime itself.
pub fn shutdown(timeout: Duration) -> Result<(), Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::invalid_input(
            "thread",
            "the runtime cannot be shut down from one of its own threads or from inside an async runtime",
        ));
    }
    let mut state = state();
    let Some(running) = state.running.take() else {
        return Ok(());
    };
    if running.pid != std::process::id() {
        std::mem::forget(running.runtime);
        return Ok(());
    }
    match Arc::try_unwrap(running.runtime) {
        Ok(runtime) => {
            drop(state);
            runtime.shutdown_timeout(timeout);
            Ok(())
        }
        Err(runtime) => {
            let users = Arc::strong_count(&runtime) - 1;
            state.running = Some(Running {
                pid: running.pid,
                runtime,
            });
            Err(Error::invalid_input(
                "runtime",
                format!("{users} blocking call(s) are still running; let them finish before shutting down"),
            ))
        }
    }
}
