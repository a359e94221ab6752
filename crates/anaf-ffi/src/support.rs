//! The machinery every export goes through: argument checks, the panic guard, out-params,
//! the blocking runner and the async spawner. Nothing here knows about ANAF.

use std::ffi::{CStr, CString, c_char, c_void};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

use anaf_core::{CancellationToken, Error};

use crate::{ANAF_INVALID_INPUT, ANAF_OK, anaf_callback, anaf_status};

/// An error, as C sees it: the core's error plus its text forms, made once so accessors can
/// hand out pointers that live as long as the object.
pub struct anaf_error {
    pub(crate) error: Error,
    pub(crate) code: CString,
    pub(crate) message: CString,
    pub(crate) anaf_message: Option<CString>,
    pub(crate) field: Option<CString>,
    pub(crate) hint: Option<CString>,
    pub(crate) json: CString,
}

impl anaf_error {
    pub(crate) fn new(error: Error) -> anaf_error {
        anaf_error {
            code: c_string(error.kind().code()),
            message: c_string(&error.to_string()),
            anaf_message: error.anaf_message().map(c_string),
            field: error.field().map(c_string),
            hint: error.hint().map(c_string),
            json: c_string(&error.to_json()),
            error,
        }
    }
}

/// A successful call's answer: its JSON and, for a ZIP or a PDF, the bytes.
pub struct anaf_result {
    pub(crate) json: CString,
    pub(crate) bytes: Option<Vec<u8>>,
    /// The JSON holds tokens (`anaf_oauth_tokens`): wiped when freed.
    pub(crate) secret: bool,
}

impl Drop for anaf_result {
    fn drop(&mut self) {
        if self.secret {
            zeroize::Zeroize::zeroize(&mut std::mem::take(&mut self.json).into_bytes());
        }
    }
}

impl anaf_result {
    pub(crate) fn json(value: &impl serde::Serialize) -> Result<anaf_result, Error> {
        let text = serde_json::to_string(value).map_err(|e| Error::internal(format!("result as JSON: {e}")))?;
        Ok(anaf_result {
            json: c_string(&text),
            bytes: None,
            secret: false,
        })
    }

    pub(crate) fn with_bytes(mut self, bytes: impl Into<Vec<u8>>) -> anaf_result {
        self.bytes = Some(bytes.into());
        self
    }
}

/// A cancellation token the host fires from any thread.
pub struct anaf_cancel {
    pub(crate) token: CancellationToken,
}

/// Text for C. JSON and our messages never hold a NUL; if one ever did, it is dropped rather
/// than truncating the rest.
pub(crate) fn c_string(text: &str) -> CString {
    CString::new(text).unwrap_or_else(|_| CString::new(text.replace('\0', "")).unwrap_or_default())
}

/// A secret's text for C, without leaving a copy behind (the caller wipes the result).
pub(crate) fn secret_c_string(text: String) -> CString {
    CString::new(text).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        zeroize::Zeroize::zeroize(&mut bytes);
        CString::default()
    })
}

/// A C pointer the library hands back on its own threads (`user_data`). The host promised,
/// by passing it, that it may be used from any thread.
#[derive(Clone, Copy)]
pub(crate) struct HostPtr(pub *mut c_void);
impl HostPtr {
    /// The pointer (a method, so closures capture the whole `HostPtr`, which is `Send`).
    pub(crate) fn get(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: the documented contract of every `user_data`: the library passes it back from its
// threads and never dereferences it.
unsafe impl Send for HostPtr {}
// SAFETY: as above.
unsafe impl Sync for HostPtr {}

/// Tells the host, once, that the library no longer uses a `user_data`: when the last copy
/// of what holds it (a token store, a token event callback) is dropped.
pub(crate) struct Release {
    release: Option<unsafe extern "C" fn(*mut c_void)>,
    user_data: HostPtr,
}

impl Release {
    pub(crate) fn new(release: Option<unsafe extern "C" fn(*mut c_void)>, user_data: *mut c_void) -> Release {
        Release {
            release,
            user_data: HostPtr(user_data),
        }
    }

    pub(crate) fn user_data(&self) -> *mut c_void {
        self.user_data.get()
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(release) = self.release {
            let user_data = self.user_data;
            // SAFETY: the host's release function with its own user_data, called once.
            let _ = catch_unwind(|| unsafe { release(user_data.get()) });
        }
    }
}

/// A required string argument, borrowed for the call.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string that lives through the call.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::invalid_input(name, format!("`{name}` is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map_err(|e| Error::invalid_input(name, format!("`{name}` is not valid UTF-8 (byte {})", e.valid_up_to())))
}

/// An optional string argument: NULL means "not given".
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { str_arg(ptr, name) }.map(Some)
    }
}

/// A byte buffer argument (NULL is allowed only with length 0).
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes that live through the call.
pub(crate) unsafe fn bytes_arg<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::invalid_input(
                name,
                format!("`{name}` is NULL with a length of {len}"),
            ))
        };
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid_input(name, format!("`{name}` has an impossible length")));
    }
    // SAFETY: non-NULL, `len` readable bytes per the contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A handle argument.
///
/// # Safety
/// `ptr` is NULL or a live handle of this type made by this library.
pub(crate) unsafe fn handle_arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Error> {
    // SAFETY: per the contract, non-NULL means a live handle.
    unsafe { ptr.as_ref() }.ok_or_else(|| Error::invalid_input(name, format!("`{name}` is NULL")))
}

/// A mutable handle argument (options objects, which the host must not share while changing).
///
/// # Safety
/// As [`handle_arg`], and no other thread uses the handle during the call.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Error> {
    // SAFETY: per the contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| Error::invalid_input(name, format!("`{name}` is NULL")))
}

/// A code argument ("prod", "ubl", "received" ...) parsed by the core, with the error naming
/// the C parameter (the core names it generically).
pub(crate) fn code_arg<T: std::str::FromStr<Err = Error>>(text: &str, name: &str) -> Result<T, Error> {
    text.parse()
        .map_err(|e: Error| Error::invalid_input(name, e.to_string()))
}

/// A 0/1 flag argument.
pub(crate) fn flag_arg(value: i32, name: &str) -> Result<bool, Error> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Error::invalid_input(
            name,
            format!("`{name}` must be 0 or 1, not {other}"),
        )),
    }
}

/// Checks an out-param before any work is done, so that a result is never computed and lost.
pub(crate) fn out_arg<T>(out: *mut *mut T, name: &str) -> Result<(), Error> {
    if out.is_null() {
        Err(Error::invalid_input(name, format!("`{name}` is NULL")))
    } else {
        Ok(())
    }
}

/// Writes an owned object to a checked out-param.
///
/// # Safety
/// `out` passed [`out_arg`] and is writable.
pub(crate) unsafe fn write_out<T>(out: *mut *mut T, value: T) {
    // SAFETY: checked non-NULL and writable per the contract.
    unsafe { *out = Box::into_raw(Box::new(value)) };
}

/// Writes an owned string to a checked out-param (freed with `anaf_string_free`).
///
/// # Safety
/// As [`write_out`].
pub(crate) unsafe fn write_string(out: *mut *mut c_char, text: &str) {
    // SAFETY: checked non-NULL and writable per the contract.
    unsafe { *out = c_string(text).into_raw() };
}

/// Hands the error to the caller when it asked for it (`out_error` may be NULL).
fn write_error(out_error: *mut *mut anaf_error, error: Error) -> anaf_status {
    let status = error.kind().number();
    if !out_error.is_null() {
        // SAFETY: a non-NULL `out_error` is writable per the documented contract.
        unsafe { *out_error = Box::into_raw(Box::new(anaf_error::new(error))) };
    }
    status
}

fn panic_error(payload: &(dyn std::any::Any + Send)) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    Error::internal(format!(
        "the anaf library hit a bug and recovered from it ({what}); please report it"
    ))
}

/// Every export runs in here: a panic becomes an `internal` error instead of unwinding into C.
pub(crate) fn guard(out_error: *mut *mut anaf_error, body: impl FnOnce() -> Result<(), Error>) -> anaf_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => ANAF_OK,
        Ok(Err(error)) => write_error(out_error, error),
        Err(payload) => write_error(out_error, panic_error(payload.as_ref())),
    }
}

/// For exports that cannot fail in a way worth reporting (accessors, frees): a panic is
/// swallowed and `fallback` returned.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// An operation's work, prepared from the arguments (which are copied: nothing borrowed from
/// the caller outlives the call).
pub(crate) type Prepared<F> = Result<F, Error>;

/// The blocking form of an I/O call: runs the future on the library's runtime and writes the
/// result (or NULL when the operation has none, e.g. the end of a stream).
pub(crate) fn run_blocking<F>(
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
    prepare: impl FnOnce() -> Prepared<F>,
) -> anaf_status
where
    F: Future<Output = Result<Option<anaf_result>, Error>>,
{
    guard(out_error, || {
        out_arg(out_result, "out_result")?;
        let work = prepare()?;
        let result = anaf_core::runtime::block_on(work)?;
        match result {
            // SAFETY: checked by out_arg above.
            Some(result) => unsafe { write_out(out_result, result) },
            // SAFETY: as above.
            None => unsafe { *out_result = std::ptr::null_mut() },
        }
        Ok(())
    })
}

type CompletionFn = unsafe extern "C" fn(*mut c_void, anaf_status, *mut anaf_result, *mut anaf_error);

/// Hands an outcome to a host's completion callback (which then owns the result or error).
fn deliver(callback: CompletionFn, user_data: HostPtr, outcome: Result<Option<anaf_result>, Error>) {
    let (status, result, error) = match outcome {
        Ok(result) => (
            ANAF_OK,
            result.map_or(std::ptr::null_mut(), |r| Box::into_raw(Box::new(r))),
            std::ptr::null_mut(),
        ),
        Err(error) => (
            error.kind().number(),
            std::ptr::null_mut(),
            Box::into_raw(Box::new(anaf_error::new(error))),
        ),
    };
    // A host callback must not unwind; if Rust code inside it panics (a Rust host), the
    // panic stops here rather than tearing down a runtime worker.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host gave this function pointer for exactly this call.
        unsafe { callback(user_data.get(), status, result, error) }
    }));
}

/// The callback of one async call: fires exactly once, also when the runtime drops the task
/// (shutdown), which then reports an `internal` error.
struct Completion {
    callback: CompletionFn,
    user_data: HostPtr,
    fired: bool,
}

impl Completion {
    fn fire(mut self, outcome: Result<Option<anaf_result>, Error>) {
        self.fired = true;
        deliver(self.callback, self.user_data, outcome);
    }

    /// For a call that did not start: its callback must never fire.
    fn disarm(mut self) {
        self.fired = true;
    }
}

impl Drop for Completion {
    /// The runtime dropped the task: it is shutting down (`anaf_runtime_shutdown`). The
    /// callback still fires, here and now, so that every callback has run by the time the
    /// shutdown returns and the host may unload the library.
    fn drop(&mut self) {
        if !self.fired {
            self.fired = true;
            let stopped = Error::internal("the anaf runtime stopped before the call finished (anaf_runtime_shutdown)");
            deliver(self.callback, self.user_data, Err(stopped));
        }
    }
}

/// The async form of an I/O call. `ANAF_OK`: the callback fires exactly once, on a library
/// thread, with the result or the error (bad arguments included). Any other status (a NULL
/// callback, a runtime that cannot start): nothing started and the callback never fires.
pub(crate) fn spawn_async<F>(
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
    prepare: impl FnOnce() -> Prepared<F>,
) -> anaf_status
where
    F: Future<Output = Result<Option<anaf_result>, Error>> + Send + 'static,
{
    let Some(callback) = callback else {
        return ANAF_INVALID_INPUT;
    };
    let completion = Completion {
        callback,
        user_data: HostPtr(user_data),
        fired: false,
    };
    let started = catch_unwind(AssertUnwindSafe(|| -> Result<_, Error> {
        // SAFETY: a non-NULL cancel is a live handle per the contract.
        let token = unsafe { cancel.as_ref() }.map(|c| c.token.clone()).unwrap_or_default();
        let work = prepare()?;
        Ok(async move { anaf_core::cancellable(&token, work).await })
    }))
    .unwrap_or_else(|payload| Err(panic_error(payload.as_ref())));
    let runtime = match anaf_core::runtime::handle() {
        Ok(runtime) => runtime,
        Err(error) => {
            // The runtime cannot start (no threads to be had): nothing starts, nothing fires.
            completion.disarm();
            return error.kind().number();
        }
    };
    runtime.spawn(async move {
        let outcome = match started {
            Ok(work) => catch_unwind_future(work).await,
            Err(error) => Err(error),
        };
        completion.fire(outcome);
    });
    ANAF_OK
}

/// Runs a future, turning a panic inside it into an `internal` error.
async fn catch_unwind_future<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    use std::pin::pin;
    let mut work = pin!(work);
    std::future::poll_fn(
        move |cx| match catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => std::task::Poll::Ready(Err(panic_error(payload.as_ref()))),
        },
    )
    .await
}
