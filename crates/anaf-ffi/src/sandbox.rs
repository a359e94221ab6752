//! The embedded ANAF sandbox (cargo feature `sandbox`, on by default), so C, C# and Delphi
//! programs test against a local ANAF. Specs go in as the JSON of the sandbox's admin API
//! (`/_sandbox/...`, documented in the sandbox's README) and come out as its JSON.

use std::ffi::{CString, c_char};
use std::time::Duration;

use ::anaf_sandbox::{AuthorizeRequest, Sandbox, SandboxSettings};
use anaf_core::Error;
use serde::Deserialize;

use crate::anaf_status;
use crate::api::anaf_options;
use crate::support::{
    anaf_error, guard, guard_value, handle_arg, opt_str_arg, out_arg, str_arg, write_out, write_string,
};

/// A running sandbox on a loopback port. Thread-safe. Stopped and freed by
/// `anaf_sandbox_free`.
pub struct anaf_sandbox {
    sandbox: Sandbox,
    base_url: CString,
}

fn json_arg<T: for<'de> Deserialize<'de>>(text: &str, name: &str) -> Result<T, Error> {
    serde_json::from_str(text)
        .map_err(|e| Error::invalid_input(name, format!("`{name}` is not the expected JSON: {e}")))
}

fn sandbox_error(error: ::anaf_sandbox::SandboxError) -> Error {
    match error {
        ::anaf_sandbox::SandboxError::InvalidInput(message) => Error::invalid_input("spec", message),
        other => Error::internal(other.to_string()),
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("sandbox answer as JSON: {e}")))
}

/// Starts a sandbox. `options_json` may be NULL (ANAF's documented behaviour: uploads take
/// 2 s to process) or e.g. `{"instant": true}` (final at once); other keys:
/// `port`, `processing_delay_ms`, `indexing_lag_ms`, `per_minute_limit`, `code_lifetime_ms`,
/// `access_token_lifetime_ms`, `refresh_token_lifetime_ms`, `rotate_refresh_tokens`,
/// `waf_rules`, `public_registry_pacing`, `default_client_id`, `default_client_secret`,
/// `default_redirect_uris`, `worker_threads`, `daily_limits` (`{"efactura_status": 1, ...}`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_start(
    options_json: *const c_char,
    out_sandbox: *mut *mut anaf_sandbox,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        out_arg(out_sandbox, "out_sandbox")?;
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let given: SandboxSettings = match unsafe { opt_str_arg(options_json, "options_json") }? {
            Some(text) => json_arg(text, "options_json")?,
            None => SandboxSettings::default(),
        };
        let options = given.into_options();
        let sandbox = Sandbox::start(options).map_err(sandbox_error)?;
        let base_url = crate::support::c_string(sandbox.base_url());
        // SAFETY: checked above.
        unsafe { write_out(out_sandbox, anaf_sandbox { sandbox, base_url }) };
        Ok(())
    })
}

/// Stops the sandbox and frees it. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_free(sandbox: *mut anaf_sandbox) {
    if !sandbox.is_null() {
        // SAFETY: made by Box::into_raw here, freed once per the contract.
        guard_value((), || drop(unsafe { Box::from_raw(sandbox) }));
    }
}

/// `http://127.0.0.1:PORT`: the base URL for logincert, api and webservicesp alike.
/// Borrowed: valid until the sandbox is freed. "" for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_base_url(sandbox: *const anaf_sandbox) -> *const c_char {
    // SAFETY: NULL or a live sandbox per the contract.
    unsafe { sandbox.as_ref() }.map_or(c"".as_ptr(), |s| s.base_url.as_ptr())
}

/// Runs `body` on a sandbox argument and writes the text it returns to `out_json`.
fn with_sandbox_text(
    sandbox: *const anaf_sandbox,
    out_json: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
    body: impl FnOnce(&Sandbox) -> Result<String, Error>,
) -> anaf_status {
    guard(out_error, || {
        out_arg(out_json, "out_json")?;
        // SAFETY: NULL or a live sandbox per the contract.
        let sandbox = unsafe { handle_arg(sandbox, "sandbox") }?;
        let text = body(&sandbox.sandbox)?;
        // SAFETY: checked above.
        unsafe { write_string(out_json, &text) };
        Ok(())
    })
}

/// The base URL, the default application (`client_id`, `client_secret`, `redirect_uris`)
/// and the default identity (certificate `serial`, `cifs`) as JSON. Free with
/// `anaf_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_info(
    sandbox: *const anaf_sandbox,
    out_json: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    with_sandbox_text(sandbox, out_json, out_error, |s| to_json(&s.info()))
}

/// Points client options at the sandbox: its base URL and its default application (with the
/// first registered redirect URI).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_configure(
    sandbox: *const anaf_sandbox,
    options: *mut anaf_options,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or live handles per the contract.
        let (sandbox, options) = unsafe {
            (
                handle_arg(sandbox, "sandbox")?,
                crate::support::handle_mut(options, "options")?,
            )
        };
        let app = sandbox.sandbox.default_application();
        let redirect = app.redirect_uris.first().cloned().unwrap_or_default();
        // On a refusal the options stay as they were.
        options.builder = options
            .builder
            .clone()
            .base_url(sandbox.sandbox.base_url())?
            .application(anaf_core::Application::new(app.client_id, app.client_secret, redirect));
        Ok(())
    })
}

/// Registers an application, as ANAF's portal does. `spec_json`: `{"name": "...",
/// "redirect_uris": ["https://..."], "services": ["efactura", "etransport"]}`. Writes the
/// application (with its generated `client_id` and `client_secret`) as JSON.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_register_app(
    sandbox: *const anaf_sandbox,
    spec_json: *const c_char,
    out_json: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    with_sandbox_text(sandbox, out_json, out_error, |s| {
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let spec = json_arg(unsafe { str_arg(spec_json, "spec_json") }?, "spec_json")?;
        to_json(&s.register_app(spec).map_err(sandbox_error)?)
    })
}

/// Adds a user (a certificate) with SPV rights: `{"name": "Ion Popescu", "cifs":
/// ["8000000000"], "services": ["efactura"], "serial": "..." (optional: generated)}`.
/// Writes the identity as JSON.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_add_identity(
    sandbox: *const anaf_sandbox,
    spec_json: *const c_char,
    out_json: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    with_sandbox_text(sandbox, out_json, out_error, |s| {
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let spec = json_arg(unsafe { str_arg(spec_json, "spec_json") }?, "spec_json")?;
        to_json(&s.add_identity(spec).map_err(sandbox_error)?)
    })
}

/// Makes a company known with its registry facts (what the VAT registry answers), as the
/// admin API's company JSON (`{"cif": "...", "name": "...", ...}`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_set_company(
    sandbox: *const anaf_sandbox,
    spec_json: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or live arguments per the contract.
        let (sandbox, spec) = unsafe { (handle_arg(sandbox, "sandbox")?, str_arg(spec_json, "spec_json")?) };
        sandbox
            .sandbox
            .set_company(json_arg(spec, "spec_json")?)
            .map_err(sandbox_error)
    })
}

/// An authorization code without a browser, as if the user had picked their certificate.
/// `request_json` NULL: the default application, its first redirect URI and the default
/// identity; otherwise `{"client_id", "redirect_uri", "serial", "state" (optional)}`. Writes
/// the code (free with `anaf_string_free`); exchange it within 60 s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_authorize(
    sandbox: *const anaf_sandbox,
    request_json: *const c_char,
    out_code: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    with_sandbox_text(sandbox, out_code, out_error, |s| {
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let request: AuthorizeRequest = match unsafe { opt_str_arg(request_json, "request_json") }? {
            Some(text) => json_arg(text, "request_json")?,
            None => s.default_authorize_request(),
        };
        Ok(s.authorize(&request).map_err(sandbox_error)?.code)
    })
}

/// Makes the next matching requests fail: `{"endpoint": "efactura.upload" | "*", "fault":
/// {"kind": "status", "status": 500, ...}, "times": 1}` (the admin API's fault JSON: latency,
/// status, reset, waf_block, accept_then_drop, endless_body, reply, redirect).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_inject_fault(
    sandbox: *const anaf_sandbox,
    fault_json: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or live arguments per the contract.
        let (sandbox, spec) = unsafe { (handle_arg(sandbox, "sandbox")?, str_arg(fault_json, "fault_json")?) };
        sandbox
            .sandbox
            .inject_fault(json_arg(spec, "fault_json")?)
            .map_err(sandbox_error)
    })
}

/// Removes every injected fault. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_clear_faults(sandbox: *const anaf_sandbox) {
    // SAFETY: NULL or a live sandbox per the contract.
    if let Some(sandbox) = unsafe { sandbox.as_ref() } {
        guard_value((), || sandbox.sandbox.clear_faults());
    }
}

/// Moves the sandbox clock forward (code and token expiry, processing, retention and daily
/// limits follow it). NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_advance_clock(sandbox: *const anaf_sandbox, milliseconds: u64) {
    // SAFETY: NULL or a live sandbox per the contract.
    if let Some(sandbox) = unsafe { sandbox.as_ref() } {
        guard_value((), || {
            sandbox.sandbox.advance_clock(Duration::from_millis(milliseconds))
        });
    }
}

/// Everything uploaded (e-Factura and e-Transport), for one CIF or all (`cif` NULL), oldest
/// first, as a JSON array. Free with `anaf_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_uploads(
    sandbox: *const anaf_sandbox,
    cif: *const c_char,
    out_json: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    with_sandbox_text(sandbox, out_json, out_error, |s| {
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let cif = unsafe { opt_str_arg(cif, "cif") }?;
        to_json(&s.uploads(cif))
    })
}

/// The requests the sandbox answered (no secrets), oldest first, as a JSON array.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_requests(
    sandbox: *const anaf_sandbox,
    out_json: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    with_sandbox_text(sandbox, out_json, out_error, |s| to_json(&s.requests()))
}

/// Creates received invoices for a company (`{"cif": "...", "count": 250, "days_back": 30}`),
/// so lists, pages and downloads can be tried at volume. Writes their upload ids (JSON array).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_seed_received_invoices(
    sandbox: *const anaf_sandbox,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    with_sandbox_text(sandbox, out_json, out_error, |s| {
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let request = json_arg(unsafe { str_arg(request_json, "request_json") }?, "request_json")?;
        to_json(&s.seed_received_invoices(&request).map_err(sandbox_error)?)
    })
}

/// A valid CIUS-RO invoice (one line, 2 × 100.00 RON, 19 % VAT, issued today) from
/// `seller_cif` to `buyer_cif`, for tests. Writes the XML; free with `anaf_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_sample_invoice(
    number: *const c_char,
    seller_cif: *const c_char,
    buyer_cif: *const c_char,
    out_xml: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        out_arg(out_xml, "out_xml")?;
        // SAFETY: NULL or NUL-terminated strings per the contract.
        let (number, seller, buyer) = unsafe {
            (
                str_arg(number, "number")?,
                str_arg(seller_cif, "seller_cif")?,
                str_arg(buyer_cif, "buyer_cif")?,
            )
        };
        let xml =
            ::anaf_sandbox::samples::invoice_xml(&::anaf_sandbox::samples::InvoiceSpec::new(number, seller, buyer));
        // SAFETY: checked above.
        unsafe { write_string(out_xml, &xml) };
        Ok(())
    })
}

/// A valid e-Transport notification (schema v2) declared by `declarant_cif`, for tests.
/// Writes the XML; free with `anaf_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_sandbox_sample_transport(
    declarant_cif: *const c_char,
    reference: *const c_char,
    out_xml: *mut *mut c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        out_arg(out_xml, "out_xml")?;
        // SAFETY: NULL or NUL-terminated strings per the contract.
        let (declarant, reference) = unsafe {
            (
                str_arg(declarant_cif, "declarant_cif")?,
                str_arg(reference, "reference")?,
            )
        };
        let xml = ::anaf_sandbox::samples::transport_notification_xml(&::anaf_sandbox::samples::TransportSpec::new(
            declarant, reference,
        ));
        // SAFETY: checked above.
        unsafe { write_string(out_xml, &xml) };
        Ok(())
    })
}
