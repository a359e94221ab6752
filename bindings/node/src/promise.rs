//! Promises settled through one threadsafe function per JavaScript environment.
//!
//! napi-rs's `Env::create_deferred` makes a threadsafe function (a libuv handle, an
//! environment cleanup hook, locks) for every Promise and tears it down again when it settles:
//! the largest share of what an awaited call cost on the JavaScript thread (BENCHMARKS.md,
//! Node). Here each JavaScript thread opens one channel, on its first Promise, and keeps it:
//! a Promise costs a `napi_create_promise` and a map entry. The channel keeps the event loop
//! alive only while Promises are pending, as a per-call handle would.
//!
//! Lifetime: the channel is closed by an environment cleanup hook, registered after the
//! threadsafe function, so it runs before Node finalizes it; a call settling later (its task
//! outliving a worker thread, say) finds the channel closed and drops its outcome instead of
//! touching freed memory.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, PoisonError, RwLock};

use anaf_core::Error;
use napi::bindgen_prelude::{ToNapiValue, Unknown};
use napi::{Env, sys};

use crate::{Out, js_error};

struct Channel {
    tsfn: sys::napi_threadsafe_function,
    /// Set, under the write lock, as the environment tears down: nobody calls `tsfn` after.
    closed: RwLock<bool>,
}

// SAFETY: a threadsafe function exists to be called from any thread; `closed` guards its
// lifetime. Referencing and unreferencing it happen on its JavaScript thread only.
unsafe impl Send for Channel {}
unsafe impl Sync for Channel {}

/// The Promises a JavaScript thread is waiting for, by id.
struct Pending {
    channel: Arc<Channel>,
    deferreds: HashMap<u64, sys::napi_deferred>,
    next_id: u64,
}

thread_local! {
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

struct Settled {
    id: u64,
    outcome: Result<Out, Error>,
}

/// The settling end of a Promise, sent to whichever thread finishes the work. Dropped without
/// `settle` (its task dropped as the runtime stops), it rejects the Promise rather than
/// leaving it pending, and the event loop kept alive, forever.
pub(crate) struct Settle {
    channel: Arc<Channel>,
    id: u64,
    settled: bool,
}

impl Settle {
    pub(crate) fn settle(mut self, outcome: Result<Out, Error>) {
        self.send(outcome);
    }

    fn send(&mut self, outcome: Result<Out, Error>) {
        self.settled = true;
        let closed = self.channel.closed.read().unwrap_or_else(PoisonError::into_inner);
        if *closed {
            return;
        }
        let message = Box::into_raw(Box::new(Settled { id: self.id, outcome }));
        // SAFETY: the channel is open (checked under the read lock, which the cleanup hook
        // needs to close it); on failure the message was not queued and is ours to free.
        unsafe {
            let status = sys::napi_call_threadsafe_function(
                self.channel.tsfn,
                message.cast(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            );
            if status != sys::Status::napi_ok {
                drop(Box::from_raw(message));
            }
        }
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if !self.settled {
            self.send(Err(Error::internal(
                "the call was dropped before it finished (the library is shutting down)",
            )));
        }
    }
}

impl std::fmt::Debug for Settle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settle").field("id", &self.id).finish_non_exhaustive()
    }
}

fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "{what} failed (napi status {status})"
        )))
    }
}

/// A new Promise on this JavaScript thread, and its settling end.
pub(crate) fn new(env: &Env) -> napi::Result<(Settle, Unknown<'_>)> {
    let raw = env.raw();
    PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        let pending = match &mut *pending {
            Some(open) => open,
            empty => empty.insert(open_channel(raw)?),
        };
        let mut deferred = ptr::null_mut();
        let mut promise = ptr::null_mut();
        // SAFETY: called on the JavaScript thread with its live env.
        check(
            unsafe { sys::napi_create_promise(raw, &mut deferred, &mut promise) },
            "creating a Promise",
        )?;
        if pending.deferreds.is_empty() {
            // SAFETY: on the channel's own JavaScript thread.
            check(
                unsafe { sys::napi_ref_threadsafe_function(raw, pending.channel.tsfn) },
                "referencing the channel",
            )?;
        }
        pending.next_id += 1;
        let id = pending.next_id;
        pending.deferreds.insert(id, deferred);
        let settle = Settle {
            channel: pending.channel.clone(),
            id,
            settled: false,
        };
        // SAFETY: `promise` was just created in this env.
        Ok((settle, unsafe { Unknown::from_raw_unchecked(raw, promise) }))
    })
}

fn open_channel(env: sys::napi_env) -> napi::Result<Pending> {
    let mut name = ptr::null_mut();
    let mut tsfn = ptr::null_mut();
    // SAFETY: on the JavaScript thread with its live env; no JavaScript function (the native
    // `settle_on_js_thread` does the work), no finalizer (the cleanup hook owns the lifetime).
    unsafe {
        check(
            sys::napi_create_string_utf8(env, c"anaf".as_ptr(), 4, &mut name),
            "naming the channel",
        )?;
        check(
            sys::napi_create_threadsafe_function(
                env,
                ptr::null_mut(),
                ptr::null_mut(),
                name,
                0,
                1,
                ptr::null_mut(),
                None,
                ptr::null_mut(),
                Some(settle_on_js_thread),
                &mut tsfn,
            ),
            "creating the channel",
        )?;
        // Idle, it must not keep the process alive; `new` references it while calls are pending.
        check(
            sys::napi_unref_threadsafe_function(env, tsfn),
            "unreferencing the channel",
        )?;
    }
    let channel = Arc::new(Channel {
        tsfn,
        closed: RwLock::new(false),
    });
    let hook_data = Arc::into_raw(channel.clone()).cast_mut().cast::<c_void>();
    // SAFETY: the hook gets back the `Arc` leaked here, once.
    if let Err(error) = check(
        unsafe { sys::napi_add_env_cleanup_hook(env, Some(close_channel), hook_data) },
        "registering the channel's cleanup",
    ) {
        // SAFETY: not registered: take the `Arc` back and release the function.
        unsafe {
            drop(Arc::from_raw(hook_data.cast::<Channel>()));
            sys::napi_release_threadsafe_function(tsfn, sys::ThreadsafeFunctionReleaseMode::abort);
        }
        return Err(error);
    }
    Ok(Pending {
        channel,
        deferreds: HashMap::new(),
        next_id: 0,
    })
}

/// The environment is tearing down (on its JavaScript thread): close the channel before Node
/// finalizes its threadsafe function.
unsafe extern "C" fn close_channel(data: *mut c_void) {
    // SAFETY: the `Arc` leaked by `open_channel` for this hook, which runs once.
    let channel = unsafe { Arc::from_raw(data.cast::<Channel>()) };
    let mut closed = channel.closed.write().unwrap_or_else(PoisonError::into_inner);
    *closed = true;
    // SAFETY: still alive (Node finalizes it after this hook); nobody calls it from now on.
    unsafe { sys::napi_release_threadsafe_function(channel.tsfn, sys::ThreadsafeFunctionReleaseMode::abort) };
    drop(closed);
    PENDING.with(|pending| {
        if let Ok(mut pending) = pending.try_borrow_mut() {
            pending.take();
        }
    });
}

/// Runs on the JavaScript thread for each settled call (with a null env while a closing
/// environment drains its queue: then the outcome is only dropped).
unsafe extern "C" fn settle_on_js_thread(
    env: sys::napi_env,
    _js: sys::napi_value,
    _context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: every message is a `Settled` boxed by `Settle::send`, delivered once.
    let settled = unsafe { Box::from_raw(data.cast::<Settled>()) };
    if env.is_null() {
        return;
    }
    let deferred = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        let pending = pending.as_mut()?;
        let deferred = pending.deferreds.remove(&settled.id)?;
        if pending.deferreds.is_empty() {
            // SAFETY: on the channel's own JavaScript thread.
            unsafe { sys::napi_unref_threadsafe_function(env, pending.channel.tsfn) };
        }
        Some(deferred)
    });
    let Some(deferred) = deferred else {
        return;
    };
    // SAFETY: on the JavaScript thread, inside the handle scope Node opens for this callback;
    // the deferred is settled exactly once (it left the map above).
    unsafe {
        let value = match settled.outcome {
            Ok(out) => Out::to_napi_value(env, out),
            Err(error) => Err(js_error(&error)),
        };
        match value {
            Ok(value) => {
                sys::napi_resolve_deferred(env, deferred, value);
            }
            Err(error) => {
                if let Ok(error) = napi::Error::to_napi_value(env, error) {
                    sys::napi_reject_deferred(env, deferred, error);
                }
            }
        }
    }
}
