//! The C ABI's exports that take text or bytes, called through their C signatures with what
//! a C, C# or Delphi host could pass: any bytes (not UTF-8 included) up to the first NUL,
//! NULL, any numbers. The exports that go on to call ANAF read their arguments with the same
//! functions as these (`support::str_arg`, `bytes_arg`) before anything is sent.
//!
//! Asserted for every call: it returns `ANAF_OK` with its out-params written and no error, or
//! the error's own status with a readable error (UTF-8 code, message and JSON); never a panic
//! (libFuzzer aborts on one even when the export's guard catches it), never `ANAF_INTERNAL`
//! (but for saved tokens the core cannot read, its documented kind);
//! text that is not UTF-8, or NULL, is `ANAF_INVALID_INPUT`; a result's JSON parses; a CIF
//! that validates is digits only and validates again; tokens set are the tokens read back.
#![no_main]

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;
use std::sync::OnceLock;

use anaf_c_abi::*;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// A `const char *` argument as a host could pass it.
#[derive(Arbitrary, Debug)]
enum Text {
    Utf8(String),
    Bytes(Vec<u8>),
    Null,
}

impl Text {
    /// What C reads from the pointer: the bytes up to the first NUL.
    fn to_c(&self) -> Option<CString> {
        let bytes = match self {
            Text::Utf8(text) => text.as_bytes(),
            Text::Bytes(bytes) => bytes,
            Text::Null => return None,
        };
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Some(CString::new(&bytes[..end]).expect("no NUL before the end"))
    }
}

#[derive(Arbitrary, Debug)]
enum OptionCall {
    Environment(Text),
    BaseUrl(Text),
    Endpoints(Text, Text, Text),
    Application(Text, Text, Text),
    RequestsPerMinute(u32),
    Retry(u32, u64, u64),
    Timeouts(u64, u64),
    UserAgent(Text),
    Proxy(Text),
    RootCertificate(Vec<u8>),
    RefreshMargin(u64),
    MaxResponseBytes(u64),
    StatusPollBudget(u32),
    /// Tokens in a state database that is never set: the client is refused, not built.
    DatabaseTokens(Text),
}

/// Calls on a client that never reach the network.
#[derive(Arbitrary, Debug)]
enum ClientCall {
    AuthorizationUrl(Text),
    SetTokens(Text),
    Tokens,
    TokenStatus,
    ClearTokens,
}

#[derive(Arbitrary, Debug)]
enum SandboxCall {
    RegisterApp(Text),
    AddIdentity(Text),
    SetCompany(Text),
    Authorize(Text),
    InjectFault(Text),
    ClearFaults,
    AdvanceClock(u32),
    Uploads(Text),
    SampleInvoice(Text, Text, Text),
    SampleTransport(Text, Text),
}

#[derive(Arbitrary, Debug)]
struct Input {
    cif: Text,
    archive: Option<Vec<u8>>,
    options: Vec<OptionCall>,
    /// Whether to make a client of the options: it loads the system's root certificates each
    /// time (a few milliseconds), so the calls below use one client made once.
    build_client: bool,
    /// Tokens a host's store hands back (what its database or file holds), read by a client
    /// made for it, and the name the store is shared under.
    saved_tokens: Option<(Text, Text)>,
    client: Vec<ClientCall>,
    sandbox: Vec<SandboxCall>,
}

fn ptr_of(text: &Option<CString>) -> *const c_char {
    text.as_ref().map_or(ptr::null(), |t| t.as_ptr())
}

/// NULL or not UTF-8: what the export must refuse as invalid input.
fn unreadable(text: &Option<CString>) -> bool {
    text.as_ref().is_none_or(|t| t.to_str().is_err())
}

/// Not UTF-8, for an argument that may be NULL.
fn unreadable_if_given(text: &Option<CString>) -> bool {
    text.as_ref().is_some_and(|t| t.to_str().is_err())
}

fn read(text: *const c_char) -> String {
    assert!(!text.is_null());
    // SAFETY: the library's strings are NUL-terminated and live as long as their owner.
    unsafe { CStr::from_ptr(text) }
        .to_str()
        .expect("the library's text is UTF-8")
        .to_owned()
}

/// Checks one call's status against its error, and frees the error.
fn check(status: anaf_status, error: *mut anaf_error, must_refuse: bool) -> bool {
    // SAFETY: the error is the library's, freed once below.
    unsafe {
        if status == ANAF_OK {
            assert!(error.is_null(), "an error written on success");
            assert!(!must_refuse, "NULL or text that is not UTF-8 accepted");
            return true;
        }
        assert!(!error.is_null(), "status {status} without an error");
        assert_eq!(anaf_error_status(error), status);
        assert_ne!(status, ANAF_INTERNAL, "{}", read(anaf_error_message(error)));
        if must_refuse {
            assert_eq!(status, ANAF_INVALID_INPUT, "{}", read(anaf_error_message(error)));
        }
        assert!(!read(anaf_error_code(error)).is_empty());
        assert!(!read(anaf_error_message(error)).is_empty());
        let json: Value = serde_json::from_str(&read(anaf_error_json(error))).expect("the error's JSON");
        assert!(json.is_object());
        for text in [
            anaf_error_anaf_message(error),
            anaf_error_field(error),
            anaf_error_hint(error),
        ] {
            if !text.is_null() {
                read(text);
            }
        }
        anaf_error_free(error);
        false
    }
}

/// Reads a result's JSON (it must parse) and frees the result. NULL (a call without a
/// result) is JSON's null.
fn take_result(result: *mut anaf_result) -> Value {
    if result.is_null() {
        return Value::Null;
    }
    // SAFETY: the result is the library's, freed once here.
    unsafe {
        let json = serde_json::from_str(&read(anaf_result_json(result))).expect("the result's JSON");
        let mut len = 0usize;
        let bytes = anaf_result_bytes(result, &mut len);
        if !bytes.is_null() {
            let _ = std::slice::from_raw_parts(bytes, len).iter().fold(0u8, |a, b| a ^ b);
        }
        anaf_result_free(result);
        json
    }
}

fn take_string(text: *mut c_char) -> String {
    let owned = read(text);
    // SAFETY: written by the library, freed once.
    unsafe { anaf_string_free(text) };
    owned
}

/// A handle kept for the whole run.
struct Shared<T>(*mut T);
// SAFETY: clients and sandboxes are documented as usable from any thread.
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

/// One sandbox for the whole run (each starts a server).
fn sandbox() -> *const anaf_sandbox {
    static SANDBOX: OnceLock<Shared<anaf_sandbox>> = OnceLock::new();
    SANDBOX
        .get_or_init(|| {
            let mut sandbox = ptr::null_mut();
            // SAFETY: valid out-params; NULL options are the defaults.
            let status = unsafe { anaf_sandbox_start(ptr::null(), &mut sandbox, ptr::null_mut()) };
            assert_eq!(status, ANAF_OK);
            Shared(sandbox)
        })
        .0
}

/// One client with the default options (tokens in memory) for the whole run.
fn client() -> *const anaf_client {
    static CLIENT: OnceLock<Shared<anaf_client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let options = anaf_options_new();
            let mut client = ptr::null_mut();
            // SAFETY: a live options handle, valid out-params; the options are freed once.
            unsafe {
                assert_eq!(anaf_client_new(options, &mut client, ptr::null_mut()), ANAF_OK);
                anaf_options_free(options);
            }
            Shared(client)
        })
        .0
}

fn cif_validate(text: &Text) {
    let c = text.to_c();
    let mut cif = ptr::null_mut();
    let mut error = ptr::null_mut();
    // SAFETY: a NUL-terminated string or NULL, valid out-params.
    let status = unsafe { anaf_cif_validate(ptr_of(&c), &mut cif, &mut error) };
    if check(status, error, unreadable(&c)) {
        let cif = take_string(cif);
        assert!(!cif.is_empty() && cif.bytes().all(|b| b.is_ascii_digit()), "{cif:?}");
        let again = CString::new(cif.clone()).unwrap();
        let mut same = ptr::null_mut();
        // SAFETY: as above.
        let status = unsafe { anaf_cif_validate(again.as_ptr(), &mut same, ptr::null_mut()) };
        assert_eq!(status, ANAF_OK);
        assert_eq!(take_string(same), cif);
    }
}

fn open_archive(bytes: &[u8]) {
    let mut result = ptr::null_mut();
    let mut error = ptr::null_mut();
    // SAFETY: a live buffer and its length.
    let status = unsafe { anaf_efactura_open_archive(bytes.as_ptr(), bytes.len(), &mut result, &mut error) };
    if check(status, error, false) {
        take_result(result);
    }
}

fn set_option(options: *mut anaf_options, call: &OptionCall) {
    let mut error = ptr::null_mut();
    // SAFETY: a live options handle, NUL-terminated strings or NULL, a live buffer.
    let (status, must_refuse) = unsafe {
        match call {
            OptionCall::Environment(text) => {
                let c = text.to_c();
                (
                    anaf_options_set_environment(options, ptr_of(&c), &mut error),
                    unreadable(&c),
                )
            }
            OptionCall::BaseUrl(text) => {
                let c = text.to_c();
                (
                    anaf_options_set_base_url(options, ptr_of(&c), &mut error),
                    unreadable(&c),
                )
            }
            OptionCall::Endpoints(a, b, c) => {
                let (a, b, c) = (a.to_c(), b.to_c(), c.to_c());
                let status = anaf_options_set_endpoints(options, ptr_of(&a), ptr_of(&b), ptr_of(&c), &mut error);
                (status, unreadable(&a) || unreadable(&b) || unreadable(&c))
            }
            OptionCall::Application(id, secret, redirect) => {
                let (id, secret, redirect) = (id.to_c(), secret.to_c(), redirect.to_c());
                let status =
                    anaf_options_set_application(options, ptr_of(&id), ptr_of(&secret), ptr_of(&redirect), &mut error);
                (status, unreadable(&id) || unreadable(&secret) || unreadable(&redirect))
            }
            OptionCall::RequestsPerMinute(n) => (anaf_options_set_requests_per_minute(options, *n, &mut error), false),
            OptionCall::Retry(attempts, initial, max) => (
                anaf_options_set_retry(options, *attempts, *initial, *max, &mut error),
                false,
            ),
            OptionCall::Timeouts(request, connect) => (
                anaf_options_set_timeouts(options, *request, *connect, &mut error),
                false,
            ),
            OptionCall::UserAgent(text) => {
                let c = text.to_c();
                (
                    anaf_options_set_user_agent(options, ptr_of(&c), &mut error),
                    unreadable(&c),
                )
            }
            OptionCall::Proxy(text) => {
                let c = text.to_c();
                (anaf_options_set_proxy(options, ptr_of(&c), &mut error), unreadable(&c))
            }
            OptionCall::DatabaseTokens(text) => {
                let c = text.to_c();
                (
                    anaf_options_set_database_tokens(options, ptr_of(&c), &mut error),
                    unreadable(&c),
                )
            }
            OptionCall::RootCertificate(pem) => (
                anaf_options_add_root_certificate(options, pem.as_ptr(), pem.len(), &mut error),
                false,
            ),
            OptionCall::RefreshMargin(ms) => (anaf_options_set_refresh_margin(options, *ms, &mut error), false),
            OptionCall::MaxResponseBytes(n) => (anaf_options_set_max_response_bytes(options, *n, &mut error), false),
            OptionCall::StatusPollBudget(n) => (anaf_options_set_status_poll_budget(options, *n, &mut error), false),
        }
    };
    check(status, error, must_refuse);
}

fn client_call(client: *const anaf_client, call: &ClientCall) {
    let mut result = ptr::null_mut();
    let mut error = ptr::null_mut();
    // SAFETY: a live client, NUL-terminated strings or NULL, valid out-params.
    unsafe {
        match call {
            ClientCall::AuthorizationUrl(state) => {
                // NULL: the library makes a state.
                let c = state.to_c();
                let status = anaf_oauth_authorization_url(client, ptr_of(&c), &mut result, &mut error);
                if check(status, error, unreadable_if_given(&c)) {
                    take_result(result);
                }
            }
            ClientCall::SetTokens(json) => {
                let c = json.to_c();
                let status = anaf_oauth_set_tokens(client, ptr_of(&c), &mut result, &mut error);
                if check(status, error, unreadable(&c)) {
                    take_result(result);
                    let given: Value = serde_json::from_str(c.unwrap().to_str().unwrap()).expect("accepted JSON");
                    let status = anaf_oauth_tokens(client, &mut result, ptr::null_mut());
                    assert_eq!(status, ANAF_OK);
                    let stored = take_result(result);
                    assert!(stored.is_object(), "tokens set, none read back");
                    assert_eq!(
                        stored["access_token"], given["access_token"],
                        "tokens set are read back"
                    );
                    assert_eq!(
                        stored["refresh_token"], given["refresh_token"],
                        "tokens set are read back"
                    );
                }
            }
            ClientCall::Tokens => {
                if check(anaf_oauth_tokens(client, &mut result, &mut error), error, false) {
                    take_result(result);
                }
            }
            ClientCall::TokenStatus => {
                if check(anaf_oauth_token_status(client, &mut result, &mut error), error, false) {
                    take_result(result);
                }
            }
            ClientCall::ClearTokens => {
                if check(anaf_oauth_clear_tokens(client, &mut result, &mut error), error, false) {
                    take_result(result);
                }
            }
        }
    }
}

/// What the host's load callback hands to the library, and what `anaf_token_sink_set` said.
struct SavedTokens {
    json: Option<CString>,
    sink_status: Option<anaf_status>,
}

unsafe extern "C" fn load_saved(user_data: *mut c_void, sink: *mut anaf_token_sink) -> i32 {
    // SAFETY: `user_data` is the `SavedTokens` of the running call, alive until it ends.
    let saved = unsafe { &mut *user_data.cast::<SavedTokens>() };
    let mut error = ptr::null_mut();
    // SAFETY: the sink of this load, a NUL-terminated string or NULL.
    let status = unsafe { anaf_token_sink_set(sink, ptr_of(&saved.json), &mut error) };
    check(status, error, unreadable(&saved.json));
    saved.sink_status = Some(status);
    0
}

unsafe extern "C" fn save_nowhere(_: *mut c_void, _: *const c_char) -> i32 {
    0
}

/// A client over a host's token store whose saved tokens are `json`: they load as tokens, or
/// the call says they cannot be read (`ANAF_INTERNAL` is the documented kind for a store
/// that holds something else than tokens), never a panic.
fn saved_tokens(json: &Text, sharing_key: &Text) {
    let mut saved = SavedTokens {
        json: json.to_c(),
        sink_status: None,
    };
    let key = sharing_key.to_c();
    // SAFETY: valid callbacks and out-params; `saved` outlives the client (freed below, and
    // the store's release is NULL); every handle is freed once.
    unsafe {
        let mut store = ptr::null_mut();
        let user_data = (&raw mut saved).cast::<c_void>();
        let status = anaf_token_store_new(
            Some(load_saved),
            Some(save_nowhere),
            None,
            user_data,
            &mut store,
            ptr::null_mut(),
        );
        assert_eq!(status, ANAF_OK);
        let mut error = ptr::null_mut();
        let status = anaf_token_store_set_sharing_key(store, ptr_of(&key), &mut error);
        check(status, error, unreadable_if_given(&key));
        let options = anaf_options_new();
        assert_eq!(anaf_options_set_token_store(options, store, ptr::null_mut()), ANAF_OK);
        anaf_token_store_free(store);
        let mut client = ptr::null_mut();
        assert_eq!(anaf_client_new(options, &mut client, ptr::null_mut()), ANAF_OK);
        anaf_options_free(options);
        let mut result = ptr::null_mut();
        let mut error = ptr::null_mut();
        let status = anaf_oauth_token_status(client, &mut result, &mut error);
        let readable = match saved.sink_status {
            Some(ANAF_OK) => saved
                .json
                .as_ref()
                .and_then(|j| j.to_str().ok())
                .is_some_and(|j| anaf::TokenSet::from_json(j).is_ok()),
            // Nothing handed over: no tokens, which is not an error.
            _ => true,
        };
        if status == ANAF_OK {
            assert!(readable, "tokens the core cannot read were taken");
            take_result(result);
        } else {
            assert!(!readable, "readable saved tokens refused");
            assert_eq!(status, ANAF_INTERNAL);
            assert!(!read(anaf_error_message(error)).is_empty());
            anaf_error_free(error);
        }
        anaf_client_free(client);
    }
}

fn sandbox_call(sandbox: *const anaf_sandbox, call: &SandboxCall) {
    let mut out = ptr::null_mut();
    let mut error = ptr::null_mut();
    // SAFETY: the live sandbox, NUL-terminated strings or NULL, valid out-params.
    unsafe {
        let (status, must_refuse, wrote) = match call {
            SandboxCall::RegisterApp(spec) => {
                let c = spec.to_c();
                (
                    anaf_sandbox_register_app(sandbox, ptr_of(&c), &mut out, &mut error),
                    unreadable(&c),
                    true,
                )
            }
            SandboxCall::AddIdentity(spec) => {
                let c = spec.to_c();
                (
                    anaf_sandbox_add_identity(sandbox, ptr_of(&c), &mut out, &mut error),
                    unreadable(&c),
                    true,
                )
            }
            SandboxCall::SetCompany(spec) => {
                let c = spec.to_c();
                (
                    anaf_sandbox_set_company(sandbox, ptr_of(&c), &mut error),
                    unreadable(&c),
                    false,
                )
            }
            SandboxCall::Authorize(request) => {
                // NULL: the default application and identity.
                let c = request.to_c();
                let status = anaf_sandbox_authorize(sandbox, ptr_of(&c), &mut out, &mut error);
                (status, unreadable_if_given(&c), true)
            }
            SandboxCall::InjectFault(fault) => {
                let c = fault.to_c();
                (
                    anaf_sandbox_inject_fault(sandbox, ptr_of(&c), &mut error),
                    unreadable(&c),
                    false,
                )
            }
            SandboxCall::ClearFaults => {
                anaf_sandbox_clear_faults(sandbox);
                return;
            }
            SandboxCall::AdvanceClock(ms) => {
                anaf_sandbox_advance_clock(sandbox, u64::from(*ms));
                return;
            }
            SandboxCall::Uploads(cif) => {
                // NULL: the uploads of every CIF.
                let c = cif.to_c();
                let status = anaf_sandbox_uploads(sandbox, ptr_of(&c), &mut out, &mut error);
                (status, unreadable_if_given(&c), true)
            }
            SandboxCall::SampleInvoice(number, seller, buyer) => {
                let (n, s, b) = (number.to_c(), seller.to_c(), buyer.to_c());
                let status = anaf_sandbox_sample_invoice(ptr_of(&n), ptr_of(&s), ptr_of(&b), &mut out, &mut error);
                (status, unreadable(&n) || unreadable(&s) || unreadable(&b), true)
            }
            SandboxCall::SampleTransport(declarant, reference) => {
                let (d, r) = (declarant.to_c(), reference.to_c());
                let status = anaf_sandbox_sample_transport(ptr_of(&d), ptr_of(&r), &mut out, &mut error);
                (status, unreadable(&d) || unreadable(&r), true)
            }
        };
        if check(status, error, must_refuse) && wrote {
            take_string(out);
        }
    }
}

/// Making a client loads the system's root certificates (rustls-native-certs): about 150 of
/// them, most of each execution's time. One of them is enough here: `SSL_CERT_FILE` points
/// the loader at a file holding only the first (and `SSL_CERT_DIR`, which it reads first, is
/// unset).
fn trust_one_system_certificate() {
    const END: &str = "-----END CERTIFICATE-----";
    let Ok(bundle) = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt") else {
        return;
    };
    let Some(end) = bundle.find(END) else { return };
    // Written aside and renamed: the jobs of a campaign start at once.
    let path = std::env::temp_dir().join("anaf-fuzz-c-abi-one-root.pem");
    let written = path.with_extension(std::process::id().to_string());
    if std::fs::write(&written, &bundle[..end + END.len()]).is_ok() && std::fs::rename(&written, &path).is_ok() {
        // SAFETY: called from libFuzzer's init, before the library starts any thread.
        unsafe {
            std::env::set_var("SSL_CERT_FILE", &path);
            std::env::remove_var("SSL_CERT_DIR");
        }
    }
}

fuzz_target!(init: trust_one_system_certificate(), |input: Input| {
    cif_validate(&input.cif);
    if let Some(archive) = &input.archive {
        open_archive(archive);
    }

    let options = anaf_options_new();
    for call in &input.options {
        set_option(options, call);
    }
    if input.build_client {
        let mut client = ptr::null_mut();
        let mut error = ptr::null_mut();
        // SAFETY: a live options handle, valid out-params; the client is freed once.
        let status = unsafe { anaf_client_new(options, &mut client, &mut error) };
        if check(status, error, false) {
            unsafe { anaf_client_free(client) };
        }
    }
    // SAFETY: made above, freed once.
    unsafe { anaf_options_free(options) };

    if let Some((json, sharing_key)) = &input.saved_tokens {
        saved_tokens(json, sharing_key);
    }

    if !input.client.is_empty() {
        let client = client();
        for call in &input.client {
            client_call(client, call);
        }
    }

    if !input.sandbox.is_empty() {
        let sandbox = sandbox();
        for call in &input.sandbox {
            sandbox_call(sandbox, call);
        }
    }
});
