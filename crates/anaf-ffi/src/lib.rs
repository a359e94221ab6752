//! The C ABI of `anaf` (see README.md in this crate for the conventions, which are also the
//! top of `include/anaf.h`). A thin layer: every operation is the core's, its arguments are
//! checked and copied here, and its result crosses as the core's JSON (plus bytes for a ZIP or
//! a PDF). No URL, no ANAF answer parsing, no protocol decision lives in this crate.
#![allow(non_camel_case_types)]
// Every export checks its pointers itself (NULL gives ANAF_INVALID_INPUT) and documents the
// remaining contract (lifetimes, one writer per options handle) in the header.
#![allow(clippy::missing_safety_doc)]
// The handles are opaque to C and never printed by Rust code (some hold secrets).
#![allow(missing_debug_implementations)]

use std::ffi::{c_char, c_void};

mod api;
mod log;
#[cfg(feature = "sandbox")]
mod sandbox;
mod support;
mod tokens;

pub use api::*;
pub use log::*;
#[cfg(feature = "sandbox")]
pub use sandbox::*;
pub use support::{anaf_cancel, anaf_error, anaf_result};
pub use tokens::*;

use support::{guard, guard_value, out_arg, str_arg, write_string};

/// What a call returned: `ANAF_OK` (0) or the number of the error's kind. The numbers are
/// fixed forever; a new kind gets a new number.
pub type anaf_status = i32;

/// Success.
pub const ANAF_OK: anaf_status = 0;
/// HTTP 401: the access token is missing, expired or revoked: log in again.
pub const ANAF_UNAUTHORIZED: anaf_status = 1;
/// HTTP 403: no right on this service, or the application is not enrolled for it.
pub const ANAF_FORBIDDEN: anaf_status = 2;
/// HTTP 429: ANAF's per-minute budget is spent; see `anaf_error_retry_after_ms`.
pub const ANAF_RATE_LIMITED: anaf_status = 3;
/// One of ANAF's daily limits; see `anaf_error_limit`.
pub const ANAF_DAILY_LIMIT: anaf_status = 4;
/// The user has SPV rights, but not on this CIF.
pub const ANAF_NO_CIF_RIGHT: anaf_status = 5;
/// The user has no SPV right on any CIF.
pub const ANAF_NO_CIF_RIGHTS: anaf_status = 6;
/// No such upload, download id or declaration.
pub const ANAF_NOT_FOUND: anaf_status = 7;
/// The message is older than the 60 days ANAF keeps it.
pub const ANAF_DOWNLOAD_EXPIRED: anaf_status = 8;
/// ANAF already holds this invoice; see `anaf_error_previous_upload_id`.
pub const ANAF_DUPLICATE_INVOICE: anaf_status = 9;
/// ANAF's web firewall refused the request (its block page).
pub const ANAF_WAF_REJECTED: anaf_status = 10;
/// A bad argument (NULL, not UTF-8, out of range) or a document ANAF refused; see
/// `anaf_error_field`.
pub const ANAF_INVALID_INPUT: anaf_status = 11;
/// The identity provider refused (`invalid_grant`, `access_denied`, ...).
pub const ANAF_OAUTH: anaf_status = 12;
/// The request timed out.
pub const ANAF_TIMEOUT: anaf_status = 13;
/// The connection failed (DNS, connect, reset, TLS).
pub const ANAF_TRANSPORT: anaf_status = 14;
/// ANAF answered something this client does not understand.
pub const ANAF_UNEXPECTED_RESPONSE: anaf_status = 15;
/// The client's own budget for this operation is spent.
pub const ANAF_QUOTA_EXHAUSTED: anaf_status = 16;
/// The call was cancelled (`anaf_cancel_fire`).
pub const ANAF_CANCELLED: anaf_status = 17;
/// A failure of the library itself (a bug it recovered from, file I/O, ...).
pub const ANAF_INTERNAL: anaf_status = 18;

/// The callback of every `_async` call. It fires exactly once, on a library thread. It owns
/// `result` (NULL on error, and for calls without a result) and `error` (NULL on success)
/// and frees them with `anaf_result_free` / `anaf_error_free`. It must return promptly, must
/// not unwind or longjmp, and must not call a blocking `anaf_` function (those refuse with
/// ANAF_INVALID_INPUT, field "thread"); it may start `_async` calls and free handles.
pub type anaf_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, status: anaf_status, result: *mut anaf_result, error: *mut anaf_error),
>;

/// The library's version, e.g. "0.1.0" (the same as `ANAF_VERSION_STRING` of the header it
/// was built with). Static: do not free.
#[unsafe(no_mangle)]
pub extern "C" fn anaf_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Frees a string the library returned through a `char **` out-param. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: the pointer came from CString::into_raw in this library, freed once.
        guard_value((), || drop(unsafe { std::ffi::CString::from_raw(text) }));
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Frees an error. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_free(error: *mut anaf_error) {
    if !error.is_null() {
        // SAFETY: made by Box::into_raw in this library, freed once per the contract.
        guard_value((), || drop(unsafe { Box::from_raw(error) }));
    }
}

/// The error's kind as its status number (ANAF_UNAUTHORIZED ...); ANAF_INVALID_INPUT for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_status(error: *const anaf_error) -> anaf_status {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }.map_or(ANAF_INVALID_INPUT, |e| e.error.kind().number())
}

/// The error's kind as its stable code ("unauthorized", "daily_limit", ...). Borrowed: valid
/// until the error is freed. "" for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_code(error: *const anaf_error) -> *const c_char {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }.map_or(c"".as_ptr(), |e| e.code.as_ptr())
}

/// The whole message for a person (English, with ANAF's Romanian text quoted). Borrowed:
/// valid until the error is freed. "" for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_message(error: *const anaf_error) -> *const c_char {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }.map_or(c"".as_ptr(), |e| e.message.as_ptr())
}

/// ANAF's original text (Romanian, UTF-8, ANAF's spelling kept), or NULL when ANAF sent
/// none. Borrowed: valid until the error is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_anaf_message(error: *const anaf_error) -> *const c_char {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }
        .and_then(|e| e.anaf_message.as_ref())
        .map_or(std::ptr::null(), |m| m.as_ptr())
}

/// The parameter or document part at fault (e.g. "cif", "xml", "thread"), or NULL.
/// Borrowed: valid until the error is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_field(error: *const anaf_error) -> *const c_char {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }
        .and_then(|e| e.field.as_ref())
        .map_or(std::ptr::null(), |m| m.as_ptr())
}

/// What to do next, in English, or NULL. Borrowed: valid until the error is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_hint(error: *const anaf_error) -> *const c_char {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }
        .and_then(|e| e.hint.as_ref())
        .map_or(std::ptr::null(), |m| m.as_ptr())
}

/// The HTTP status of ANAF's answer, or 0 when there was none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_http_status(error: *const anaf_error) -> u16 {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }
        .and_then(|e| e.error.http_status())
        .unwrap_or(0)
}

/// How long ANAF asked to wait (HTTP 429), in milliseconds, or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_retry_after_ms(error: *const anaf_error) -> i64 {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }
        .and_then(|e| e.error.retry_after())
        .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The daily limit that was reached (ANAF_DAILY_LIMIT), or -1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_limit(error: *const anaf_error) -> i64 {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }
        .and_then(|e| e.error.limit())
        .map_or(-1, i64::from)
}

/// 1 when an upload may have reached ANAF without an answer (timeout, lost connection,
/// cancellation after sending): look for it before sending it again. 0 otherwise.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_upload_outcome_unknown(error: *const anaf_error) -> i32 {
    // SAFETY: NULL or a live error per the contract.
    i32::from(unsafe { error.as_ref() }.is_some_and(|e| e.error.upload_outcome_unknown()))
}

/// The upload index of the invoice ANAF already holds (ANAF_DUPLICATE_INVOICE), or 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_previous_upload_id(error: *const anaf_error) -> u64 {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }
        .and_then(|e| e.error.previous_upload_id())
        .unwrap_or(0)
}

/// The upload index ANAF had already given when the call failed or was cancelled, or 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_upload_id(error: *const anaf_error) -> u64 {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }.and_then(|e| e.error.upload_id()).unwrap_or(0)
}

/// Every detail as one JSON object with fixed keys (`kind`, `number`, `message`,
/// `http_status`, `anaf_message`, `hint`, `field`, `cif`, `oauth_error`, `retry_after_ms`,
/// `limit`, `limit_scope`, `previous_upload_id`, `upload_id`, `support_id`,
/// `upload_outcome_unknown`, `transient`, `source`, `text`; `null` where one does not apply).
/// Borrowed: valid until the error is freed. "{}" for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_error_json(error: *const anaf_error) -> *const c_char {
    // SAFETY: NULL or a live error per the contract.
    unsafe { error.as_ref() }.map_or(c"{}".as_ptr(), |e| e.json.as_ptr())
}

// ---------------------------------------------------------------------------------------------
// Results

/// Frees a result. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_result_free(result: *mut anaf_result) {
    if !result.is_null() {
        // SAFETY: made by Box::into_raw in this library, freed once per the contract.
        guard_value((), || drop(unsafe { Box::from_raw(result) }));
    }
}

/// The result as JSON (UTF-8), in the shape documented for each call. Borrowed: valid until
/// the result is freed. "null" for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_result_json(result: *const anaf_result) -> *const c_char {
    // SAFETY: NULL or a live result per the contract.
    unsafe { result.as_ref() }.map_or(c"null".as_ptr(), |r| r.json.as_ptr())
}

/// The result's bytes (the ZIP of `anaf_efactura_download`, the PDF of `anaf_efactura_to_pdf`),
/// byte-exact. Returns a pointer borrowed from the result (valid until it is freed) and writes
/// the length to `out_len`; NULL and 0 when the result carries no bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_result_bytes(result: *const anaf_result, out_len: *mut usize) -> *const u8 {
    // SAFETY: NULL or a live result per the contract.
    let bytes = unsafe { result.as_ref() }.and_then(|r| r.bytes.as_deref());
    if !out_len.is_null() {
        // SAFETY: non-NULL out-param is writable per the contract.
        unsafe { *out_len = bytes.map_or(0, <[u8]>::len) };
    }
    bytes.map_or(std::ptr::null(), <[u8]>::as_ptr)
}

// ---------------------------------------------------------------------------------------------
// Cancellation

/// Makes a cancellation token for `_async` calls. One token may serve many calls. Free it with
/// `anaf_cancel_free` (at any time: calls keep their own reference). Never returns NULL.
#[unsafe(no_mangle)]
pub extern "C" fn anaf_cancel_new() -> *mut anaf_cancel {
    Box::into_raw(Box::new(anaf_cancel {
        token: anaf_core::CancellationToken::new(),
    }))
}

/// Cancels every call given this token; their callbacks fire with ANAF_CANCELLED (an upload
/// cancelled after it was sent reports `anaf_error_upload_outcome_unknown` = 1). Any thread;
/// NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_cancel_fire(cancel: *const anaf_cancel) {
    // SAFETY: NULL or a live token per the contract.
    if let Some(cancel) = unsafe { cancel.as_ref() } {
        guard_value((), || cancel.token.cancel());
    }
}

/// Frees a token. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_cancel_free(cancel: *mut anaf_cancel) {
    if !cancel.is_null() {
        // SAFETY: made by Box::into_raw in this library, freed once per the contract.
        guard_value((), || drop(unsafe { Box::from_raw(cancel) }));
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime

/// Sets how many threads run the library's I/O (default 2: the work is waiting on the network).
/// Call before the first I/O call; refused (ANAF_INVALID_INPUT) once the runtime runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_runtime_configure(worker_threads: u32, out_error: *mut *mut anaf_error) -> anaf_status {
    guard(out_error, || {
        if worker_threads == 0 {
            return Err(anaf_core::Error::invalid_input(
                "worker_threads",
                "`worker_threads` must be at least 1",
            ));
        }
        let threads = usize::try_from(worker_threads).unwrap_or(usize::MAX);
        anaf_core::runtime::configure(anaf_core::runtime::RuntimeOptions::default().worker_threads(threads))
    })
}

/// Stops the library's threads, waiting at most `timeout_ms` for them. The callbacks of
/// `_async` calls still in flight fire with ANAF_INTERNAL before this returns (possibly on
/// this thread). A host callback still running when the time is up (a token store waiting
/// on a database) keeps running: give callbacks time to return before unloading the library
/// (`FreeLibrary`, `dlclose`). A later I/O call starts the runtime again. Refused from a
/// library thread, and while blocking calls are running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_runtime_shutdown(timeout_ms: u64, out_error: *mut *mut anaf_error) -> anaf_status {
    guard(out_error, || {
        anaf_core::runtime::shutdown(std::time::Duration::from_millis(timeout_ms))
    })
}

// ---------------------------------------------------------------------------------------------
// CIF

/// Checks a CIF (CUI: a company's tax number, with or without "RO") with its check digit.
/// On success writes the normalised CIF (digits only) to `out_cif`, freed with
/// `anaf_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_cif_validate(
    text: *const c_char,
    out_cif: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        out_arg(out_cif, "out_cif")?;
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let text = unsafe { str_arg(text, "text") }?;
        let cif = anaf_core::Cif::parse(text)?;
        // SAFETY: checked above.
        unsafe { write_string(out_cif, cif.as_str()) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_cargo() {
        // SAFETY: a static NUL-terminated string.
        let version = unsafe { std::ffi::CStr::from_ptr(anaf_version()) };
        assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn statuses_are_the_core_kind_numbers() {
        let ours = [
            ANAF_UNAUTHORIZED,
            ANAF_FORBIDDEN,
            ANAF_RATE_LIMITED,
            ANAF_DAILY_LIMIT,
            ANAF_NO_CIF_RIGHT,
            ANAF_NO_CIF_RIGHTS,
            ANAF_NOT_FOUND,
            ANAF_DOWNLOAD_EXPIRED,
            ANAF_DUPLICATE_INVOICE,
            ANAF_WAF_REJECTED,
            ANAF_INVALID_INPUT,
            ANAF_OAUTH,
            ANAF_TIMEOUT,
            ANAF_TRANSPORT,
            ANAF_UNEXPECTED_RESPONSE,
            ANAF_QUOTA_EXHAUSTED,
            ANAF_CANCELLED,
            ANAF_INTERNAL,
        ];
        let core: Vec<i32> = anaf_core::ErrorKind::ALL.iter().map(|k| k.number()).collect();
        assert_eq!(ours.to_vec(), core);
    }

    #[test]
    fn a_cif_with_a_bad_check_digit_is_refused_without_writing_the_out_param() {
        let mut out: *mut c_char = std::ptr::null_mut();
        let mut error: *mut anaf_error = std::ptr::null_mut();
        // SAFETY: valid pointers for the call.
        let status = unsafe { anaf_cif_validate(c"RO8000000001".as_ptr(), &mut out, &mut error) };
        assert_eq!(status, ANAF_INVALID_INPUT);
        assert!(out.is_null());
        // SAFETY: the error just returned.
        unsafe {
            assert_eq!(
                std::ffi::CStr::from_ptr(anaf_error_code(error)).to_str().unwrap(),
                "invalid_input"
            );
            anaf_error_free(error);
        }
    }
}
