//! Client options, the client, and every operation of the core: OAuth, desktop login,
//! e-Factura (with the paginated stream), e-Transport, public registries, TestOauth.
//!
//! Each I/O operation is written once as a `prepare_*` function that checks and copies the
//! arguments and returns the core's future; its blocking export runs that future, its
//! `_async` export spawns it.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use anaf_core::efactura::{DocumentType, MessageFilter, PdfOutcome, Standard, SyncOptions, UploadOptions, WaitOptions};
use anaf_core::etransport::{InfoFilter, SchemaVersion};
use anaf_core::{Application, ClientBuilder, Environment, Error, LoginOptions, RetryPolicy, TokenSet};
use chrono::{DateTime, NaiveDate, Utc};
use zeroize::Zeroizing;

use crate::support::{
    HostPtr, Prepared, anaf_cancel, anaf_error, anaf_result, bytes_arg, c_string, code_arg, flag_arg, guard,
    guard_value, handle_arg, handle_mut, opt_str_arg, out_arg, run_blocking, secret_c_string, spawn_async, str_arg,
    write_out,
};
use crate::{anaf_callback, anaf_status};

/// How a client is made: environment, URLs, application, token store, limits. Made by
/// `anaf_options_new`, changed by the `anaf_options_set_*` calls (one thread at a time), used
/// by `anaf_client_new` (which copies it: one options object can make many clients, and
/// clients made from it share its token store), freed by `anaf_options_free`.
pub struct anaf_options {
    pub(crate) builder: ClientBuilder,
    /// Applied when a client is made (the core's builder adds hooks; this one is replaced).
    pub(crate) token_event: Option<crate::tokens::EventHook>,
}

/// A client. Thread-safe: any number of threads may use one client at once; clients made
/// from the same options share their tokens. Freed by `anaf_client_free` once no call uses
/// it any more (calls in flight keep what they need alive).
pub struct anaf_client {
    pub(crate) client: anaf_core::Client,
}

/// Makes client options with the defaults: the `test` environment, ANAF's hosts, tokens in
/// memory, ANAF's per-minute budget, retries of idempotent calls. Never returns NULL.
#[unsafe(no_mangle)]
pub extern "C" fn anaf_options_new() -> *mut anaf_options {
    Box::into_raw(Box::new(anaf_options {
        builder: anaf_core::Client::builder(),
        token_event: None,
    }))
}

/// Frees options. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_free(options: *mut anaf_options) {
    if !options.is_null() {
        // SAFETY: made by Box::into_raw here, freed once per the contract.
        guard_value((), || drop(unsafe { Box::from_raw(options) }));
    }
}

/// Changes the builder in place (the core's builder is by value).
fn update(
    options: *mut anaf_options,
    out_error: *mut *mut anaf_error,
    change: impl FnOnce(ClientBuilder) -> Result<ClientBuilder, Error>,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or a live options handle used by one thread, per the contract.
        let options = unsafe { handle_mut(options, "options") }?;
        // Changed on a copy, so that a refused change leaves the options as they were.
        options.builder = change(options.builder.clone())?;
        Ok(())
    })
}

/// Sets the environment: "test" (ANAF's test API) or "prod".
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_environment(
    options: *mut anaf_options,
    environment: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let environment: Environment = code_arg(unsafe { str_arg(environment, "environment") }?, "environment")?;
        Ok(b.environment(environment))
    })
}

/// Points logincert, api and webservicesp at one base URL (a sandbox, a proxy). Plain HTTP
/// is accepted only for loopback addresses.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_base_url(
    options: *mut anaf_options,
    base_url: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: NULL or a NUL-terminated string per the contract.
    update(options, out_error, |b| {
        b.base_url(unsafe { str_arg(base_url, "base_url") }?)
    })
}

/// Sets the three base URLs separately: the identity provider (logincert), the API
/// (api.anaf.ro) and the public services (webservicesp).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_endpoints(
    options: *mut anaf_options,
    oauth_url: *const c_char,
    api_url: *const c_char,
    public_url: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        // SAFETY: NULL or NUL-terminated strings per the contract.
        let (oauth, api, public) = unsafe {
            (
                str_arg(oauth_url, "oauth_url")?,
                str_arg(api_url, "api_url")?,
                str_arg(public_url, "public_url")?,
            )
        };
        Ok(b.endpoints(anaf_core::Endpoints::new(oauth, api, public)?))
    })
}

/// Sets the application registered in ANAF's portal: its client ID, client secret and the
/// redirect URI registered with it. The secret is copied; it never appears in logs or errors.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_application(
    options: *mut anaf_options,
    client_id: *const c_char,
    client_secret: *const c_char,
    redirect_uri: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        // SAFETY: NULL or NUL-terminated strings per the contract.
        let (id, secret, redirect) = unsafe {
            (
                str_arg(client_id, "client_id")?,
                str_arg(client_secret, "client_secret")?,
                str_arg(redirect_uri, "redirect_uri")?,
            )
        };
        Ok(b.application(Application::new(id, secret, redirect)))
    })
}

/// Keeps the tokens in a file (JSON, owner-only permissions, replaced atomically, locked
/// across processes during a refresh).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_token_file(
    options: *mut anaf_options,
    path: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let path = unsafe { str_arg(path, "path") }?;
        Ok(b.shared_token_store(Arc::new(anaf_core::FileTokenStore::new(path))))
    })
}

/// ANAF's per-minute budget the client keeps to (0: no limit of its own). Default: ANAF's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_requests_per_minute(
    options: *mut anaf_options,
    requests_per_minute: u32,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        Ok(b.requests_per_minute((requests_per_minute > 0).then_some(requests_per_minute)))
    })
}

/// Retries of idempotent calls (uploads are never retried): `max_attempts` in all (1: no
/// retry), backoff from `initial_delay_ms` doubling up to `max_delay_ms`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_retry(
    options: *mut anaf_options,
    max_attempts: u32,
    initial_delay_ms: u64,
    max_delay_ms: u64,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        if max_attempts == 0 {
            return Err(Error::invalid_input(
                "max_attempts",
                "`max_attempts` must be at least 1",
            ));
        }
        let mut policy = RetryPolicy::default();
        policy.max_attempts = max_attempts;
        policy.initial_delay = Duration::from_millis(initial_delay_ms);
        policy.max_delay = Duration::from_millis(max_delay_ms);
        Ok(b.retry_policy(policy))
    })
}

/// The time limit of one request and of connecting, in milliseconds (0 keeps the default).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_timeouts(
    options: *mut anaf_options,
    request_timeout_ms: u64,
    connect_timeout_ms: u64,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |mut b| {
        if request_timeout_ms > 0 {
            b = b.timeout(Duration::from_millis(request_timeout_ms));
        }
        if connect_timeout_ms > 0 {
            b = b.connect_timeout(Duration::from_millis(connect_timeout_ms));
        }
        Ok(b)
    })
}

/// The User-Agent header (default `anaf/VERSION`). `anaf_client_new` refuses one with a line
/// break or another control character (ANAF_INVALID_INPUT, field "user_agent").
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_user_agent(
    options: *mut anaf_options,
    user_agent: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: NULL or a NUL-terminated string per the contract.
    update(options, out_error, |b| {
        Ok(b.user_agent(unsafe { str_arg(user_agent, "user_agent") }?))
    })
}

/// An HTTP(S) proxy URL for every request.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_proxy(
    options: *mut anaf_options,
    proxy_url: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: NULL or a NUL-terminated string per the contract.
    update(options, out_error, |b| {
        Ok(b.proxy(unsafe { str_arg(proxy_url, "proxy_url") }?))
    })
}

/// Trusts one more root certificate (PEM), e.g. a company's TLS-inspecting proxy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_add_root_certificate(
    options: *mut anaf_options,
    pem: *const u8,
    pem_len: usize,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: NULL or `pem_len` readable bytes per the contract.
    update(options, out_error, |b| {
        Ok(b.add_root_certificate(unsafe { bytes_arg(pem, pem_len, "pem") }?.to_vec()))
    })
}

/// How long before expiry the access token is refreshed, in milliseconds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_refresh_margin(
    options: *mut anaf_options,
    margin_ms: u64,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        Ok(b.refresh_margin(Duration::from_millis(margin_ms)))
    })
}

/// The largest answer accepted, in bytes (default 64 MiB).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_max_response_bytes(
    options: *mut anaf_options,
    max_bytes: u64,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        let bytes = usize::try_from(max_bytes)
            .map_err(|_| Error::invalid_input("max_bytes", "`max_bytes` is larger than this machine's memory"))?;
        Ok(b.max_response_bytes(bytes))
    })
}

/// How many status polls `anaf_efactura_upload_and_wait` may spend on one upload.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_status_poll_budget(
    options: *mut anaf_options,
    polls: u32,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| Ok(b.status_poll_budget(polls)))
}

/// The state database: the submission journal of `anaf_efactura_submit` and the quota ledger
/// that keeps every call under ANAF's daily limits, shared by every process and machine that
/// opens it. `database`: a SQLite file path (created if missing) or URL (`sqlite://...`), or a
/// PostgreSQL URL (`postgres://user:password@host/database`). Opened (and its schema created
/// or upgraded) now; a database written by a newer version of the library is refused.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_state_database(
    options: *mut anaf_options,
    database: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let database = unsafe { str_arg(database, "database") }?;
        let database = anaf_core::runtime::block_on(anaf_core::state::Database::open(database))?;
        Ok(b.state(database))
    })
}

/// Keeps the tokens in the state database (`anaf_options_set_state_database`, set first)
/// under `name`: one login shared by every process and machine using that database, refreshed
/// by one of them at a time (a lock across processes, and across machines on PostgreSQL).
/// Instead of a token file or token callbacks. The database then holds the refresh token:
/// protect it as the token file would be.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_database_tokens(
    options: *mut anaf_options,
    name: *const c_char,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        // SAFETY: NULL or a NUL-terminated string per the contract.
        let name = unsafe { str_arg(name, "name") }?;
        Ok(b.database_tokens(name))
    })
}

/// How long after an upload whose answer was lost `anaf_efactura_submit` keeps looking for
/// it in ANAF's list before it sends it again (milliseconds; default 30 minutes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_resend_after(
    options: *mut anaf_options,
    resend_after_ms: u64,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        Ok(b.resend_after(Duration::from_millis(resend_after_ms)))
    })
}

/// The daily limits the quota ledger keeps to, one number for every counted call (0: the
/// default, ANAF's limits less 5%). A ledger exists only with a state database.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_options_set_daily_limit(
    options: *mut anaf_options,
    limit: u32,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    update(options, out_error, |b| {
        Ok(b.daily_limits(match limit {
            0 => anaf_core::quota::DailyLimits::default(),
            limit => anaf_core::quota::DailyLimits::all(limit),
        }))
    })
}

/// Makes a client from options (copied: the options may be freed or changed afterwards).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_client_new(
    options: *const anaf_options,
    out_client: *mut *mut anaf_client,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        out_arg(out_client, "out_client")?;
        // SAFETY: NULL or a live options handle per the contract.
        let options = unsafe { handle_arg(options, "options") }?;
        let mut builder = options.builder.clone();
        if let Some(hook) = options.token_event.clone() {
            builder = builder.on_token_event(hook.into_hook());
        }
        let client = builder.build()?;
        // SAFETY: checked above.
        unsafe { write_out(out_client, anaf_client { client }) };
        Ok(())
    })
}

/// Frees a client. NULL is ignored. Calls still running finish normally.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_client_free(client: *mut anaf_client) {
    if !client.is_null() {
        // SAFETY: made by Box::into_raw here, freed once per the contract.
        guard_value((), || drop(unsafe { Box::from_raw(client) }));
    }
}

/// The client, cloned for a future (cheap: clones share everything).
unsafe fn client_of(client: *const anaf_client) -> Result<anaf_core::Client, Error> {
    // SAFETY: NULL or a live client per the contract.
    Ok(unsafe { handle_arg(client, "client") }?.client.clone())
}

fn json_result(value: &impl serde::Serialize) -> Result<Option<anaf_result>, Error> {
    anaf_result::json(value).map(Some)
}

fn no_result() -> Result<Option<anaf_result>, Error> {
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// OAuth

/// The authorization URL to open in the user's browser, and the `state` to check on the
/// redirect. `state` may be NULL (a random one is made). Result JSON: `{"url": "...",
/// "state": "..."}`. No I/O: this call has no `_async` twin.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_authorization_url(
    client: *const anaf_client,
    state: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        out_arg(out_result, "out_result")?;
        // SAFETY: NULL or live arguments per the contract.
        let client = unsafe { client_of(client) }?;
        // SAFETY: as above.
        let state = unsafe { opt_str_arg(state, "state") }?;
        let request = client.oauth().authorization_url(state)?;
        // SAFETY: checked above.
        unsafe { write_out(out_result, anaf_result::json(&request)?) };
        Ok(())
    })
}

unsafe fn prepare_exchange_code(
    client: *const anaf_client,
    code: *const c_char,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let client = unsafe { client_of(client) }?;
    // SAFETY: as above.
    let code = Zeroizing::new(unsafe { str_arg(code, "code") }?.to_owned());
    Ok(async move { json_result(&client.oauth().exchange_code(&code).await?.info()) })
}

/// Exchanges an authorization code (within 60 s of the redirect) for tokens, which the
/// client stores. Result JSON: the token information without the tokens themselves:
/// `{"expires_at": "...", "refresh_expires_at": "..." | null}` (RFC 3339).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_exchange_code(
    client: *const anaf_client,
    code: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_exchange_code(client, code) })
}

/// `_async` twin of `anaf_oauth_exchange_code`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_exchange_code_async(
    client: *const anaf_client,
    code: *const c_char,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_exchange_code(client, code)
    })
}

unsafe fn prepare_complete_authorization(
    client: *const anaf_client,
    redirected_url: *const c_char,
    expected_state: *const c_char,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, url, state) = unsafe {
        (
            client_of(client)?,
            Zeroizing::new(str_arg(redirected_url, "redirected_url")?.to_owned()),
            str_arg(expected_state, "expected_state")?.to_owned(),
        )
    };
    Ok(async move { json_result(&client.oauth().complete_authorization(&url, &state).await?.info()) })
}

/// Completes a login from the URL the browser was redirected to: checks `state` (against
/// forged redirects), reads ANAF's error if the user refused, exchanges the code. Result as
/// `anaf_oauth_exchange_code`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_complete_authorization(
    client: *const anaf_client,
    redirected_url: *const c_char,
    expected_state: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_complete_authorization(client, redirected_url, expected_state)
    })
}

/// `_async` twin of `anaf_oauth_complete_authorization`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_complete_authorization_async(
    client: *const anaf_client,
    redirected_url: *const c_char,
    expected_state: *const c_char,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_complete_authorization(client, redirected_url, expected_state)
    })
}

unsafe fn prepare_refresh(
    client: *const anaf_client,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move { json_result(&client.oauth().refresh().await?.info()) })
}

/// Refreshes the tokens now (calls refresh by themselves when needed; this is for a
/// "refresh" button). ANAF rotates both tokens; the new pair is saved before this returns.
/// Result as `anaf_oauth_exchange_code`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_refresh(
    client: *const anaf_client,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_refresh(client) })
}

/// `_async` twin of `anaf_oauth_refresh`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_refresh_async(
    client: *const anaf_client,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe { prepare_refresh(client) })
}

unsafe fn prepare_revoke(
    client: *const anaf_client,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move { json_result(&client.oauth().revoke().await?) })
}

/// Revokes the tokens at the identity provider and clears them locally. Result JSON:
/// `"confirmed"` or `"unconfirmed"` (ANAF did not confirm; the tokens may stay valid until
/// they expire).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_revoke(
    client: *const anaf_client,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_revoke(client) })
}

/// `_async` twin of `anaf_oauth_revoke`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_revoke_async(
    client: *const anaf_client,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe { prepare_revoke(client) })
}

unsafe fn prepare_token_status(
    client: *const anaf_client,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move { json_result(&client.oauth().token_status().await?) })
}

/// Where the login stands, without secrets. Result JSON: `{"logged_in": true, "tokens":
/// {"expires_at", ...} | null, "unsaved": false (true: the store refused the current pair),
/// "login_required": false (true: the user must log in again), "generation": 3}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_token_status(
    client: *const anaf_client,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_token_status(client) })
}

/// `_async` twin of `anaf_oauth_token_status`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_token_status_async(
    client: *const anaf_client,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe { prepare_token_status(client) })
}

unsafe fn prepare_tokens(
    client: *const anaf_client,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move {
        match client.oauth().tokens().await? {
            Some(tokens) => Ok(Some(anaf_result {
                json: secret_c_string(tokens.to_json()),
                bytes: None,
                secret: true,
            })),
            None => Ok(None),
        }
    })
}

/// The current tokens WITH their secrets, as the JSON a token store saves (to move them
/// to another store). The result is NULL when there are none. Keep this JSON secret.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_tokens(
    client: *const anaf_client,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_tokens(client) })
}

/// `_async` twin of `anaf_oauth_tokens`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_tokens_async(
    client: *const anaf_client,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe { prepare_tokens(client) })
}

unsafe fn prepare_set_tokens(
    client: *const anaf_client,
    tokens_json: *const c_char,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let client = unsafe { client_of(client) }?;
    // SAFETY: as above.
    let tokens = TokenSet::from_json(unsafe { str_arg(tokens_json, "tokens_json") }?)?;
    Ok(async move {
        client.oauth().set_tokens(tokens).await?;
        no_result()
    })
}

/// Replaces the tokens (JSON as `anaf_oauth_tokens` gives) and saves them to the store.
/// The result is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_set_tokens(
    client: *const anaf_client,
    tokens_json: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_set_tokens(client, tokens_json)
    })
}

/// `_async` twin of `anaf_oauth_set_tokens`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_set_tokens_async(
    client: *const anaf_client,
    tokens_json: *const c_char,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_set_tokens(client, tokens_json)
    })
}

unsafe fn prepare_clear_tokens(
    client: *const anaf_client,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move {
        client.oauth().clear_tokens().await?;
        no_result()
    })
}

/// Forgets the tokens here and in the store ("log out" without revoking). The result is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_clear_tokens(
    client: *const anaf_client,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_clear_tokens(client) })
}

/// `_async` twin of `anaf_oauth_clear_tokens`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_clear_tokens_async(
    client: *const anaf_client,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe { prepare_clear_tokens(client) })
}

unsafe fn prepare_save_tokens(
    client: *const anaf_client,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move {
        client.oauth().save_tokens().await?;
        no_result()
    })
}

/// Saves, now, tokens the store refused earlier (`"unsaved": true` in
/// `anaf_oauth_token_status`); the client also retries before its next calls. Does nothing
/// when everything is saved. The result is NULL; a store that still refuses gives
/// `ANAF_INTERNAL` with its message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_save_tokens(
    client: *const anaf_client,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_save_tokens(client) })
}

/// `_async` twin of `anaf_oauth_save_tokens`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_save_tokens_async(
    client: *const anaf_client,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe { prepare_save_tokens(client) })
}

// ---------------------------------------------------------------------------------------------
// Desktop login

/// Called with a text (the authorization URL, or the listener's certificate as PEM), on a
/// library thread that may block.
pub type anaf_text_callback = Option<unsafe extern "C" fn(user_data: *mut c_void, text: *const c_char)>;

/// How `anaf_oauth_login_interactive` reaches the user. Made by `anaf_login_options_new`,
/// freed by `anaf_login_options_free`; one thread at a time.
pub struct anaf_login_options {
    open_browser: bool,
    timeout: Duration,
    on_url: Option<(unsafe extern "C" fn(*mut c_void, *const c_char), HostPtr)>,
    on_certificate: Option<(unsafe extern "C" fn(*mut c_void, *const c_char), HostPtr)>,
}

/// Login options with the defaults: open the system browser, five minutes to log in.
/// Never returns NULL.
#[unsafe(no_mangle)]
pub extern "C" fn anaf_login_options_new() -> *mut anaf_login_options {
    Box::into_raw(Box::new(anaf_login_options {
        open_browser: true,
        timeout: Duration::from_secs(300),
        on_url: None,
        on_certificate: None,
    }))
}

/// Frees login options. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_login_options_free(options: *mut anaf_login_options) {
    if !options.is_null() {
        // SAFETY: made by Box::into_raw here, freed once per the contract.
        guard_value((), || drop(unsafe { Box::from_raw(options) }));
    }
}

/// 1: open the system browser (default); 0: do not (show the URL yourself).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_login_options_set_open_browser(
    options: *mut anaf_login_options,
    open_browser: i32,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or a live handle per the contract.
        let options = unsafe { handle_mut(options, "options") }?;
        options.open_browser = flag_arg(open_browser, "open_browser")?;
        Ok(())
    })
}

/// How long the user has to log in, in milliseconds (0: no limit).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_login_options_set_timeout(
    options: *mut anaf_login_options,
    timeout_ms: u64,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or a live handle per the contract.
        let options = unsafe { handle_mut(options, "options") }?;
        options.timeout = if timeout_ms == 0 {
            Duration::MAX
        } else {
            Duration::from_millis(timeout_ms)
        };
        Ok(())
    })
}

/// Called with the authorization URL (e.g. to show it, or open it in an embedded browser).
/// NULL removes it. The hooks and their `user_data` are used only while a login with these
/// options runs: once it has returned (or its callback fired, cancelled or not) no hook is
/// running or will run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_login_options_set_url_callback(
    options: *mut anaf_login_options,
    callback: anaf_text_callback,
    user_data: *mut c_void,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or a live handle per the contract.
        let options = unsafe { handle_mut(options, "options") }?;
        options.on_url = callback.map(|f| (f, HostPtr(user_data)));
        Ok(())
    })
}

/// Called with the loopback listener's certificate (PEM), for a program that embeds a
/// browser and can trust it. NULL removes it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_login_options_set_certificate_callback(
    options: *mut anaf_login_options,
    callback: anaf_text_callback,
    user_data: *mut c_void,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        // SAFETY: NULL or a live handle per the contract.
        let options = unsafe { handle_mut(options, "options") }?;
        options.on_certificate = callback.map(|f| (f, HostPtr(user_data)));
        Ok(())
    })
}

/// Keeps a login's hooks from running once the login has ended: each hook call holds the
/// gate open for reading; the login closes it (waiting for a hook still running) before its
/// result is delivered, also when it is cancelled, so the host may free `user_data` then.
struct HookGate {
    open: std::sync::RwLock<bool>,
}

struct CloseGateOnDrop(Arc<HookGate>);

impl Drop for CloseGateOnDrop {
    fn drop(&mut self) {
        *self.0.open.write().unwrap_or_else(|e| e.into_inner()) = false;
    }
}

fn text_hook(
    hook: (unsafe extern "C" fn(*mut c_void, *const c_char), HostPtr),
    gate: Arc<HookGate>,
) -> impl Fn(&str) + Send + Sync {
    move |text: &str| {
        let open = gate.open.read().unwrap_or_else(|e| e.into_inner());
        if !*open {
            return;
        }
        let text = c_string(text);
        let (callback, user_data) = hook;
        // SAFETY: the host's callback and user_data, for exactly this use, while the login runs.
        let _ = std::panic::catch_unwind(|| unsafe { callback(user_data.get(), text.as_ptr()) });
    }
}

unsafe fn prepare_login_interactive(
    client: *const anaf_client,
    options: *const anaf_login_options,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let client = unsafe { client_of(client) }?;
    let gate = Arc::new(HookGate {
        open: std::sync::RwLock::new(true),
    });
    let mut login = LoginOptions::default();
    // SAFETY: NULL (defaults) or a live handle per the contract.
    if let Some(options) = unsafe { options.as_ref() } {
        login = login.open_browser(options.open_browser).timeout(options.timeout);
        if let Some(hook) = options.on_url {
            login = login.on_url(text_hook(hook, gate.clone()));
        }
        if let Some(hook) = options.on_certificate {
            login = login.on_certificate(text_hook(hook, gate.clone()));
        }
    }
    Ok(async move {
        let _close = CloseGateOnDrop(gate);
        json_result(&client.oauth().login_interactive(login).await?.info())
    })
}

/// The whole desktop login: listens on the registered HTTPS loopback redirect URI, opens the
/// browser at ANAF's page (the user picks the certificate), receives the code and exchanges
/// it. `options` may be NULL (defaults). Result as `anaf_oauth_exchange_code`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_login_interactive(
    client: *const anaf_client,
    options: *const anaf_login_options,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_login_interactive(client, options)
    })
}

/// `_async` twin of `anaf_oauth_login_interactive`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_oauth_login_interactive_async(
    client: *const anaf_client,
    options: *const anaf_login_options,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_login_interactive(client, options)
    })
}

// ---------------------------------------------------------------------------------------------
// TestOauth

unsafe fn prepare_hello(
    client: *const anaf_client,
    name: *const c_char,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, name) = unsafe { (client_of(client)?, str_arg(name, "name")?.to_owned()) };
    Ok(async move { json_result(&client.hello(&name).await?) })
}

/// ANAF's TestOauth service: checks that the login works. Result JSON: ANAF's greeting as a
/// JSON string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_hello(
    client: *const anaf_client,
    name: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_hello(client, name) })
}

/// `_async` twin of `anaf_hello`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_hello_async(
    client: *const anaf_client,
    name: *const c_char,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe { prepare_hello(client, name) })
}

// ---------------------------------------------------------------------------------------------
// e-Factura

/// `anaf_efactura_upload` flags (OR them): the buyer is outside Romania (`extern=DA`).
pub const ANAF_UPLOAD_EXTERNAL: u32 = 1;
/// Self-billing: the buyer issues the invoice (`autofactura=DA`).
pub const ANAF_UPLOAD_SELF_BILLED: u32 = 2;
/// Issued by an enforcement body on the seller's behalf (`executare=DA`).
pub const ANAF_UPLOAD_ENFORCEMENT: u32 = 4;
/// The buyer is a consumer (B2C endpoint).
pub const ANAF_UPLOAD_B2C: u32 = 8;
const ANAF_UPLOAD_ALL: u32 = ANAF_UPLOAD_EXTERNAL | ANAF_UPLOAD_SELF_BILLED | ANAF_UPLOAD_ENFORCEMENT | ANAF_UPLOAD_B2C;

/// The document arguments every upload takes: copied, so the caller's buffer is free again
/// as soon as the call returns.
unsafe fn upload_args(
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
) -> Result<(Vec<u8>, String, UploadOptions), Error> {
    // SAFETY: NULL or live arguments per the contract.
    let (xml, cif, standard) = unsafe {
        (
            bytes_arg(xml, xml_len, "xml")?.to_vec(),
            str_arg(cif, "cif")?.to_owned(),
            opt_str_arg(standard, "standard")?,
        )
    };
    if flags & !ANAF_UPLOAD_ALL != 0 {
        return Err(Error::invalid_input(
            "flags",
            format!("unknown upload flags {:#x}", flags & !ANAF_UPLOAD_ALL),
        ));
    }
    let standard: Standard = standard
        .map(|s| code_arg(s, "standard"))
        .transpose()?
        .unwrap_or_default();
    let options = UploadOptions::new()
        .standard(standard)
        .external(flags & ANAF_UPLOAD_EXTERNAL != 0)
        .self_billed(flags & ANAF_UPLOAD_SELF_BILLED != 0)
        .enforcement(flags & ANAF_UPLOAD_ENFORCEMENT != 0)
        .b2c(flags & ANAF_UPLOAD_B2C != 0);
    Ok((xml, cif, options))
}

unsafe fn prepare_upload(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, (xml, cif, options)) =
        unsafe { (client_of(client)?, upload_args(xml, xml_len, cif, standard, flags)?) };
    Ok(async move { json_result(&client.efactura().upload(xml, &cif, options).await?) })
}

/// Uploads an invoice (`xml`, `xml_len` bytes, sent as they are) for the company `cif`. `standard`:
/// "ubl" (NULL: the default), "credit_note", "cii", "rasp" (a message to the seller), or ANAF's own
/// "UBL", "CN", "CII", "RASP"; `flags`: `ANAF_UPLOAD_*`. Never retried: on ANAF_TIMEOUT or
/// ANAF_TRANSPORT with `anaf_error_upload_outcome_unknown` the invoice may be at ANAF. Result JSON:
/// `{"upload_id": 5001130147, "response_time": "...", ...}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_upload(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_upload(client, xml, xml_len, cif, standard, flags)
    })
}

/// `_async` twin of `anaf_efactura_upload`. Cancelling after the invoice was sent reports
/// ANAF_CANCELLED with `anaf_error_upload_outcome_unknown` = 1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_upload_async(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_upload(client, xml, xml_len, cif, standard, flags)
    })
}

unsafe fn prepare_submit(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, (xml, cif, options)) =
        unsafe { (client_of(client)?, upload_args(xml, xml_len, cif, standard, flags)?) };
    Ok(async move { json_result(&client.efactura().submit(xml, &cif, options).await?) })
}

/// Uploads an invoice at most once, through the state database (`anaf_options_set_state_database`;
/// without one: ANAF_INVALID_INPUT on "state"). Arguments as `anaf_efactura_upload` ("rasp"
/// excluded). The invoice is recorded before it is sent; when ANAF's answer is lost it is looked
/// for in ANAF's list before it is ever sent again. Result JSON, the submission:
/// `{"key", "cif", "standard", "sha256", "invoice_number", "issue_date", "state", "upload_id",
/// "attempts", "last_error", "created_at", "updated_at", "sent_at"}`; `state` is "uploaded"
/// (with `upload_id`), "unknown" (the answer was lost: do not send it yourself; submit it again
/// later or call `anaf_efactura_resume_submissions`), or "sending" (another process is on it).
/// A failure that left nothing at ANAF is the error (and recorded as "pending" or "failed").
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_submit(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_submit(client, xml, xml_len, cif, standard, flags)
    })
}

/// `_async` twin of `anaf_efactura_submit`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_submit_async(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_submit(client, xml, xml_len, cif, standard, flags)
    })
}

unsafe fn prepare_resume_submissions(
    client: *const anaf_client,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move { json_result(&client.efactura().resume_submissions().await?) })
}

/// Moves on every unsettled submission of the state database (pending, unknown, or left
/// "sending" by a process that stopped), as `anaf_efactura_submit` would: call it once after a
/// restart. Result JSON: an array of submissions (as `anaf_efactura_submit`'s).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_resume_submissions(
    client: *const anaf_client,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_resume_submissions(client) })
}

/// `_async` twin of `anaf_efactura_resume_submissions`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_resume_submissions_async(
    client: *const anaf_client,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_resume_submissions(client)
    })
}

unsafe fn prepare_submissions(
    client: *const anaf_client,
    cif: *const c_char,
    state: *const c_char,
    limit: u32,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, cif, state) = unsafe {
        (
            client_of(client)?,
            opt_str_arg(cif, "cif")?,
            opt_str_arg(state, "state")?,
        )
    };
    let mut query = anaf_core::state::SubmissionQuery::new();
    if let Some(cif) = cif {
        query = query.cif(cif);
    }
    if let Some(state) = state {
        query = query.state(code_arg(state, "state")?);
    }
    if limit > 0 {
        query = query.limit(limit);
    }
    Ok(async move { json_result(&client.efactura().submissions(&query).await?) })
}

/// The state database's submissions, newest first. `cif`, `state` ("pending", "sending",
/// "unknown", "uploaded", "failed"): NULL for all; `limit`: at most this many (0: 1000).
/// Result JSON: an array of submissions (as `anaf_efactura_submit`'s).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_submissions(
    client: *const anaf_client,
    cif: *const c_char,
    state: *const c_char,
    limit: u32,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_submissions(client, cif, state, limit)
    })
}

/// `_async` twin of `anaf_efactura_submissions`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_submissions_async(
    client: *const anaf_client,
    cif: *const c_char,
    state: *const c_char,
    limit: u32,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_submissions(client, cif, state, limit)
    })
}

unsafe fn prepare_quota_usage(
    client: *const anaf_client,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move { json_result(&client.quota_usage().await?) })
}

/// Today's use of ANAF's daily limits as the quota ledger counts them (empty without a
/// state database). Result JSON: an array of `{"day", "counter", "scope", "key", "used",
/// "limit", "remaining", "resets_at"}`; a call over its limit fails with ANAF_QUOTA_EXHAUSTED
/// (with `limit`, `limit_scope` and `retry_after_ms` until midnight in Bucharest).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_quota_usage(
    client: *const anaf_client,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_quota_usage(client) })
}

/// `_async` twin of `anaf_quota_usage`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_quota_usage_async(
    client: *const anaf_client,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe { prepare_quota_usage(client) })
}

unsafe fn prepare_upload_and_wait(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
    wait: Result<WaitOptions, Error>,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, (xml, cif, options)) =
        unsafe { (client_of(client)?, upload_args(xml, xml_len, cif, standard, flags)?) };
    let wait = wait?;
    Ok(async move { json_result(&client.efactura().upload_and_wait(xml, &cif, options, wait).await?) })
}

/// `timeout_ms` of `anaf_efactura_upload_and_wait`: 0 keeps the default.
fn wait_timeout(timeout_ms: u64) -> Result<WaitOptions, Error> {
    let wait = WaitOptions::default();
    Ok(if timeout_ms > 0 {
        wait.timeout(Duration::from_millis(timeout_ms))
    } else {
        wait
    })
}

/// The polling arguments of `anaf_efactura_upload_and_wait_polling`: a negative value keeps
/// the default (0 is a real value there: no wait before the first poll, say).
fn wait_polling(
    timeout_ms: i64,
    first_poll_ms: i64,
    max_interval_ms: i64,
    max_polls: i64,
) -> Result<WaitOptions, Error> {
    let millis = |value: i64| u64::try_from(value).ok().map(Duration::from_millis);
    let mut wait = WaitOptions::default();
    if let Some(timeout) = millis(timeout_ms) {
        wait = wait.timeout(timeout);
    }
    if let Some(first_poll) = millis(first_poll_ms) {
        wait = wait.first_poll(first_poll);
    }
    if let Some(max_interval) = millis(max_interval_ms) {
        wait = wait.max_interval(max_interval);
    }
    if max_polls >= 0 {
        let polls = u32::try_from(max_polls)
            .map_err(|_| Error::invalid_input("max_polls", "`max_polls` must be at most 4294967295"))?;
        wait = wait.max_polls(Some(polls));
    }
    Ok(wait)
}

/// Uploads, then polls the state until it is final (`timeout_ms`: how long to wait; 0 keeps
/// the default). Result JSON: `{"receipt": {...}, "state": {"state": "ok", "download_id":
/// ...}}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_upload_and_wait(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
    timeout_ms: u64,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_upload_and_wait(client, xml, xml_len, cif, standard, flags, wait_timeout(timeout_ms))
    })
}

/// `_async` twin of `anaf_efactura_upload_and_wait`. Cancelled while polling, the error
/// carries the upload id (`anaf_error_upload_id`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_upload_and_wait_async(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
    timeout_ms: u64,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_upload_and_wait(client, xml, xml_len, cif, standard, flags, wait_timeout(timeout_ms))
    })
}

/// `anaf_efactura_upload_and_wait` with every polling setting (a negative value keeps the
/// default): `timeout_ms` how long to wait (600 s), `first_poll_ms` before the first poll
/// (2 s), `max_interval_ms` the longest pause as polls back off (60 s), `max_polls` at most
/// this many polls (the client's budget, `anaf_options_set_status_poll_budget`). Result JSON
/// as `anaf_efactura_upload_and_wait`, with `"polls"`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_upload_and_wait_polling(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
    timeout_ms: i64,
    first_poll_ms: i64,
    max_interval_ms: i64,
    max_polls: i64,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        let wait = wait_polling(timeout_ms, first_poll_ms, max_interval_ms, max_polls);
        prepare_upload_and_wait(client, xml, xml_len, cif, standard, flags, wait)
    })
}

/// `_async` twin of `anaf_efactura_upload_and_wait_polling`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_upload_and_wait_polling_async(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    standard: *const c_char,
    flags: u32,
    timeout_ms: i64,
    first_poll_ms: i64,
    max_interval_ms: i64,
    max_polls: i64,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        let wait = wait_polling(timeout_ms, first_poll_ms, max_interval_ms, max_polls);
        prepare_upload_and_wait(client, xml, xml_len, cif, standard, flags, wait)
    })
}

unsafe fn prepare_status(
    client: *const anaf_client,
    upload_id: u64,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move { json_result(&client.efactura().status(upload_id).await?) })
}

/// The state ("stare") of an upload. Result JSON: `{"state": "in_progress" | "ok" | "nok" |
/// "rejected_xml", "download_id": 3001293434 | null}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_status(
    client: *const anaf_client,
    upload_id: u64,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_status(client, upload_id) })
}

/// `_async` twin of `anaf_efactura_status`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_status_async(
    client: *const anaf_client,
    upload_id: u64,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_status(client, upload_id)
    })
}

/// The archive's description, its ZIP as the result's bytes, and the entries the caller most
/// often needs, decompressed once here (the ZIP stays byte-exact in the bytes).
fn archive_result(archive: &anaf_core::efactura::Archive) -> Result<Option<anaf_result>, Error> {
    let document = archive.document()?;
    let signature = archive.signature()?;
    let report = archive.error_report()?;
    let summary = archive.invoice_summary()?;
    let description = serde_json::json!({
        "upload_id": archive.upload_id(),
        "document_name": archive.document_name(),
        "signature_name": archive.signature_name(),
        "document": String::from_utf8_lossy(&document),
        "signature": String::from_utf8_lossy(&signature),
        "error": report.as_ref().map(|r| r.to_error()),
        "error_report": report,
        "invoice_summary": summary,
    });
    Ok(Some(
        anaf_result::json(&description)?.with_bytes(archive.zip_bytes().to_vec()),
    ))
}

unsafe fn prepare_download(
    client: *const anaf_client,
    download_id: u64,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move { archive_result(&client.efactura().download(download_id).await?) })
}

/// Downloads an answer ("descarcare"): ANAF's ZIP with the invoice (or ANAF's error
/// document) and its signature. `anaf_result_bytes` gives the ZIP exactly as received; the
/// JSON is `{"upload_id", "document_name", "signature_name", "document" (the XML as text),
/// "signature" (XML), "error_report" (ANAF's reasons for a `nok`, or null), "error" (the same
/// reasons as an error object, as `anaf_error_json` has them: kind "duplicate_invoice" with
/// "previous_upload_id" for a duplicate; or null), "invoice_summary" (the invoice's main fields:
/// "number", "issue_date", "seller", "buyer", "currency", totals as decimal strings, "lines";
/// null for an error document)}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_download(
    client: *const anaf_client,
    download_id: u64,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_download(client, download_id)
    })
}

/// `_async` twin of `anaf_efactura_download`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_download_async(
    client: *const anaf_client,
    download_id: u64,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_download(client, download_id)
    })
}

/// Opens a saved answer ZIP (from `anaf_efactura_download` or a file): checks its entries
/// and gives the same result as a download, without I/O.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_open_archive(
    zip: *const u8,
    zip_len: usize,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        out_arg(out_result, "out_result")?;
        // SAFETY: NULL or `zip_len` readable bytes per the contract.
        let zip = unsafe { bytes_arg(zip, zip_len, "zip") }?.to_vec();
        let archive = anaf_core::efactura::Archive::from_bytes(zip)?;
        if let Some(result) = archive_result(&archive)? {
            // SAFETY: checked above.
            unsafe { write_out(out_result, result) };
        }
        Ok(())
    })
}

unsafe fn filter_arg(filter: *const c_char) -> Result<Option<MessageFilter>, Error> {
    // SAFETY: NULL or a NUL-terminated string per the contract.
    unsafe { opt_str_arg(filter, "filter") }?
        .map(|f| code_arg(f, "filter"))
        .transpose()
}

unsafe fn prepare_list_messages(
    client: *const anaf_client,
    cif: *const c_char,
    days: u32,
    filter: *const c_char,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, cif, filter) = unsafe { (client_of(client)?, str_arg(cif, "cif")?.to_owned(), filter_arg(filter)?) };
    Ok(async move { json_result(&client.efactura().list_messages(&cif, days, filter).await?) })
}

/// The messages of the last `days` days (1 to 60) for `cif`. `filter`: NULL (all), "sent",
/// "received", "errors", "buyer_messages" (or ANAF's "T", "P", "E", "R"). An empty list is a
/// result, not an error. Result JSON: an array of `{"id", "upload_id", "cif", "kind", "created_at",
/// "details", ...}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_list_messages(
    client: *const anaf_client,
    cif: *const c_char,
    days: u32,
    filter: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_list_messages(client, cif, days, filter)
    })
}

/// `_async` twin of `anaf_efactura_list_messages`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_list_messages_async(
    client: *const anaf_client,
    cif: *const c_char,
    days: u32,
    filter: *const c_char,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_list_messages(client, cif, days, filter)
    })
}

fn time_arg(unix_ms: i64, name: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::from_timestamp_millis(unix_ms)
        .ok_or_else(|| Error::invalid_input(name, format!("`{name}` ({unix_ms} ms) is not a representable time")))
}

unsafe fn prepare_list_messages_page(
    client: *const anaf_client,
    cif: *const c_char,
    start_unix_ms: i64,
    end_unix_ms: i64,
    page: u32,
    filter: *const c_char,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, cif, filter) = unsafe { (client_of(client)?, str_arg(cif, "cif")?.to_owned(), filter_arg(filter)?) };
    let (start, end) = (
        time_arg(start_unix_ms, "start_unix_ms")?,
        time_arg(end_unix_ms, "end_unix_ms")?,
    );
    Ok(async move {
        json_result(
            &client
                .efactura()
                .list_messages_page(&cif, start, end, page, filter)
                .await?,
        )
    })
}

/// One page (from 1) of the messages between two times (Unix milliseconds). Result JSON:
/// `{"messages": [...], "page", "total_pages", "total_messages", "per_page"}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_list_messages_page(
    client: *const anaf_client,
    cif: *const c_char,
    start_unix_ms: i64,
    end_unix_ms: i64,
    page: u32,
    filter: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_list_messages_page(client, cif, start_unix_ms, end_unix_ms, page, filter)
    })
}

/// `_async` twin of `anaf_efactura_list_messages_page`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_list_messages_page_async(
    client: *const anaf_client,
    cif: *const c_char,
    start_unix_ms: i64,
    end_unix_ms: i64,
    page: u32,
    filter: *const c_char,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_list_messages_page(client, cif, start_unix_ms, end_unix_ms, page, filter)
    })
}

#[allow(clippy::too_many_arguments)]
unsafe fn prepare_sync(
    client: *const anaf_client,
    cif: *const c_char,
    folder: *const c_char,
    filter: *const c_char,
    since_unix_ms: i64,
    pdf: i32,
    progress: anaf_text_callback,
    progress_user_data: *mut c_void,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, cif, folder, filter) = unsafe {
        (
            client_of(client)?,
            str_arg(cif, "cif")?.to_owned(),
            str_arg(folder, "folder")?.to_owned(),
            filter_arg(filter)?,
        )
    };
    let mut options = SyncOptions::new().pdf(flag_arg(pdf, "pdf")?);
    if let Some(filter) = filter {
        options = options.filter(filter);
    }
    if since_unix_ms != 0 {
        options = options.since(time_arg(since_unix_ms, "since_unix_ms")?);
    }
    // The progress hook runs only while the sync does (the gate closes before the result).
    let gate = Arc::new(HookGate {
        open: std::sync::RwLock::new(true),
    });
    if let Some(callback) = progress {
        let hook = text_hook((callback, HostPtr(progress_user_data)), gate.clone());
        options = options.on_progress(move |progress| {
            if let Ok(json) = serde_json::to_string(progress) {
                hook(&json);
            }
        });
    }
    Ok(async move {
        let _close = CloseGateOnDrop(gate);
        json_result(&client.efactura().sync(&cif, &folder, options).await?)
    })
}

/// Archives every message ANAF keeps for `cif` (60 days, or from `since_unix_ms` when not 0)
/// into `folder` (UTF-8 path), each downloaded once: `CIF/KIND/YYYY-MM/YYYY-MM-DD_PARTNER_ID/`
/// with ANAF's ZIP, the invoice and signature taken out of it, `message.json` and, with `pdf`
/// 1, ANAF's PDF. A message whose folder is there is not downloaded again, so a sync stopped
/// midway goes on where it was; with a state database each folder is recorded too. `filter`:
/// NULL (all), "sent", "received", "errors" or "buyer_messages". `progress` (may be NULL) is
/// called with `{"cif", "listed", "total", "archived", "already_archived", "failed",
/// "bytes"}` after each page and each message, on a library thread, only while the sync runs.
/// Result JSON: `{"progress": {...}, "folder", "window_start", "window_end", "failures":
/// [{"download_id", "upload_id", "error": {...}}]}` (a message that failed is tried again by
/// the next sync); a failure of every call (login, network, a daily limit) is the error.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_sync(
    client: *const anaf_client,
    cif: *const c_char,
    folder: *const c_char,
    filter: *const c_char,
    since_unix_ms: i64,
    pdf: i32,
    progress: anaf_text_callback,
    progress_user_data: *mut c_void,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_sync(
            client,
            cif,
            folder,
            filter,
            since_unix_ms,
            pdf,
            progress,
            progress_user_data,
        )
    })
}

/// `_async` twin of `anaf_efactura_sync`.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_sync_async(
    client: *const anaf_client,
    cif: *const c_char,
    folder: *const c_char,
    filter: *const c_char,
    since_unix_ms: i64,
    pdf: i32,
    progress: anaf_text_callback,
    progress_user_data: *mut c_void,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_sync(
            client,
            cif,
            folder,
            filter,
            since_unix_ms,
            pdf,
            progress,
            progress_user_data,
        )
    })
}

/// Every message of an interval, page after page (`anaf_message_stream_next`). Pages are
/// fetched one at a time; one thread (or one pending `_async` call) at a time.
pub struct anaf_message_stream {
    stream: Arc<tokio::sync::Mutex<anaf_core::efactura::MessageStream>>,
    /// The interval actually listed, in Unix ms (end 0 until fixed): copies refreshed after
    /// each page, so reading them never waits for a page being fetched.
    effective_start_ms: Arc<std::sync::atomic::AtomicI64>,
    effective_end_ms: Arc<std::sync::atomic::AtomicI64>,
}

/// Starts a stream over the messages from `start_unix_ms` to `end_unix_ms` (0: now, less a
/// few seconds, since ANAF refuses an end in its future: a message of the last seconds comes
/// in the next run). No I/O yet. The start is clamped to ANAF's 60 days. Free with
/// `anaf_message_stream_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_messages(
    client: *const anaf_client,
    cif: *const c_char,
    start_unix_ms: i64,
    end_unix_ms: i64,
    filter: *const c_char,
    out_stream: *mut *mut anaf_message_stream,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    guard(out_error, || {
        out_arg(out_stream, "out_stream")?;
        // SAFETY: NULL or live arguments per the contract.
        let (client, cif, filter) = unsafe { (client_of(client)?, str_arg(cif, "cif")?, filter_arg(filter)?) };
        let start = time_arg(start_unix_ms, "start_unix_ms")?;
        let end = if end_unix_ms == 0 {
            None
        } else {
            Some(time_arg(end_unix_ms, "end_unix_ms")?)
        };
        let stream = client.efactura().messages(cif, start, end, filter);
        let effective_start_ms = Arc::new(std::sync::atomic::AtomicI64::new(
            stream.effective_start().timestamp_millis(),
        ));
        let effective_end_ms = Arc::new(std::sync::atomic::AtomicI64::new(
            stream.effective_end().map_or(0, |end| end.timestamp_millis()),
        ));
        let stream = anaf_message_stream {
            stream: Arc::new(tokio::sync::Mutex::new(stream)),
            effective_start_ms,
            effective_end_ms,
        };
        // SAFETY: checked above.
        unsafe { write_out(out_stream, stream) };
        Ok(())
    })
}

unsafe fn prepare_stream_next(
    stream: *const anaf_message_stream,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live stream per the contract.
    let handle = unsafe { handle_arg(stream, "stream") }?;
    let (stream, start_ms, end_ms) = (
        handle.stream.clone(),
        handle.effective_start_ms.clone(),
        handle.effective_end_ms.clone(),
    );
    Ok(async move {
        let mut stream = stream.lock().await;
        let page = stream.next_page().await;
        start_ms.store(
            stream.effective_start().timestamp_millis(),
            std::sync::atomic::Ordering::Relaxed,
        );
        end_ms.store(
            stream.effective_end().map_or(0, |end| end.timestamp_millis()),
            std::sync::atomic::Ordering::Relaxed,
        );
        match page? {
            Some(page) => json_result(&page),
            None => no_result(),
        }
    })
}

/// The next page (JSON as `anaf_efactura_list_messages_page`), or a NULL result after the
/// last. A page may be empty while ANAF says more follow.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_message_stream_next(
    stream: *const anaf_message_stream,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe { prepare_stream_next(stream) })
}

/// `_async` twin of `anaf_message_stream_next` (NULL result after the last page).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_message_stream_next_async(
    stream: *const anaf_message_stream,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe { prepare_stream_next(stream) })
}

/// Where the stream really started (Unix ms): later than asked when ANAF refused a start
/// older than its 60 days. 0 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_message_stream_effective_start(stream: *const anaf_message_stream) -> i64 {
    // SAFETY: NULL or a live stream per the contract.
    unsafe { stream.as_ref() }.map_or(0, |s| s.effective_start_ms.load(std::sync::atomic::Ordering::Relaxed))
}

/// Where the stream's interval ends (Unix ms): the end asked for, or "now" (less a few
/// seconds) fixed when the first page was read; 0 before that, and for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_message_stream_effective_end(stream: *const anaf_message_stream) -> i64 {
    // SAFETY: NULL or a live stream per the contract.
    unsafe { stream.as_ref() }.map_or(0, |s| s.effective_end_ms.load(std::sync::atomic::Ordering::Relaxed))
}

/// Frees a stream. NULL is ignored. A pending `_async` next still completes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_message_stream_free(stream: *mut anaf_message_stream) {
    if !stream.is_null() {
        // SAFETY: made by Box::into_raw here, freed once per the contract.
        guard_value((), || drop(unsafe { Box::from_raw(stream) }));
    }
}

unsafe fn document_type_arg(kind: *const c_char) -> Result<DocumentType, Error> {
    // SAFETY: NULL or a NUL-terminated string per the contract.
    Ok(unsafe { opt_str_arg(kind, "kind") }?
        .map(|k| code_arg(k, "kind"))
        .transpose()?
        .unwrap_or_default())
}

unsafe fn prepare_validate(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    kind: *const c_char,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, xml, kind) = unsafe {
        (
            client_of(client)?,
            bytes_arg(xml, xml_len, "xml")?.to_vec(),
            document_type_arg(kind)?,
        )
    };
    Ok(async move { json_result(&client.efactura().validate(xml, kind).await?) })
}

/// Validates an invoice with ANAF's public service (no login needed). `kind`: "invoice"
/// (NULL) or "credit_note". An invalid document is a result: `{"valid": false, "messages":
/// [...], "trace_id": ...}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_validate(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    kind: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_validate(client, xml, xml_len, kind)
    })
}

/// `_async` twin of `anaf_efactura_validate`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_validate_async(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    kind: *const c_char,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_validate(client, xml, xml_len, kind)
    })
}

unsafe fn prepare_to_pdf(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    kind: *const c_char,
    validate: i32,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, xml, kind) = unsafe {
        (
            client_of(client)?,
            bytes_arg(xml, xml_len, "xml")?.to_vec(),
            document_type_arg(kind)?,
        )
    };
    let validate = flag_arg(validate, "validate")?;
    Ok(async move {
        match client.efactura().to_pdf(xml, kind, validate).await? {
            PdfOutcome::Pdf(pdf) => Ok(Some(
                anaf_result::json(&serde_json::json!({"outcome": "pdf"}))?.with_bytes(pdf),
            )),
            invalid => json_result(&invalid),
        }
    })
}

/// Renders an invoice as PDF with ANAF's public service (`validate` 1: validate first).
/// Result JSON `{"outcome": "pdf"}` with the PDF as `anaf_result_bytes`, or `{"outcome":
/// "invalid", "report": {...}}` when ANAF would not render it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_to_pdf(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    kind: *const c_char,
    validate: i32,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_to_pdf(client, xml, xml_len, kind, validate)
    })
}

/// `_async` twin of `anaf_efactura_to_pdf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_to_pdf_async(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    kind: *const c_char,
    validate: i32,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_to_pdf(client, xml, xml_len, kind, validate)
    })
}

unsafe fn prepare_verify_signature(
    client: *const anaf_client,
    invoice_xml: *const u8,
    invoice_len: usize,
    signature_xml: *const u8,
    signature_len: usize,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, invoice, signature) = unsafe {
        (
            client_of(client)?,
            bytes_arg(invoice_xml, invoice_len, "invoice_xml")?.to_vec(),
            bytes_arg(signature_xml, signature_len, "signature_xml")?.to_vec(),
        )
    };
    Ok(async move { json_result(&client.efactura().verify_signature(invoice, signature).await?) })
}

/// Checks ANAF's signature of a downloaded invoice. Result JSON: `{"valid": true, "message":
/// "..."}` (ANAF's message).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_verify_signature(
    client: *const anaf_client,
    invoice_xml: *const u8,
    invoice_len: usize,
    signature_xml: *const u8,
    signature_len: usize,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_verify_signature(client, invoice_xml, invoice_len, signature_xml, signature_len)
    })
}

/// `_async` twin of `anaf_efactura_verify_signature`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_efactura_verify_signature_async(
    client: *const anaf_client,
    invoice_xml: *const u8,
    invoice_len: usize,
    signature_xml: *const u8,
    signature_len: usize,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_verify_signature(client, invoice_xml, invoice_len, signature_xml, signature_len)
    })
}

// ---------------------------------------------------------------------------------------------
// e-Transport

unsafe fn prepare_etransport_upload(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    version: u32,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, xml, cif) = unsafe {
        (
            client_of(client)?,
            bytes_arg(xml, xml_len, "xml")?.to_vec(),
            str_arg(cif, "cif")?.to_owned(),
        )
    };
    let version = match version {
        0 | 2 => SchemaVersion::V2,
        1 => SchemaVersion::V1,
        other => {
            return Err(Error::invalid_input(
                "version",
                format!("e-Transport schema version {other} does not exist"),
            ));
        }
    };
    Ok(async move { json_result(&client.etransport().upload(xml, &cif, version).await?) })
}

/// Declares a road transport (notification, correction, deletion, confirmation) for `cif`.
/// `version`: the schema version, 2 (0 means 2) or 1. Never retried. Result JSON:
/// `{"upload_id", "uit" (the transport's UIT code), ...}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_etransport_upload(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    version: u32,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_etransport_upload(client, xml, xml_len, cif, version)
    })
}

/// `_async` twin of `anaf_etransport_upload`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_etransport_upload_async(
    client: *const anaf_client,
    xml: *const u8,
    xml_len: usize,
    cif: *const c_char,
    version: u32,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_etransport_upload(client, xml, xml_len, cif, version)
    })
}

unsafe fn prepare_etransport_status(
    client: *const anaf_client,
    upload_id: u64,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or a live client per the contract.
    let client = unsafe { client_of(client) }?;
    Ok(async move { json_result(&client.etransport().status(upload_id).await?) })
}

/// The state of an e-Transport declaration. Result JSON: `{"state": "ok" | "nok" |
/// "in_progress" | ..., ...}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_etransport_status(
    client: *const anaf_client,
    upload_id: u64,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_etransport_status(client, upload_id)
    })
}

/// `_async` twin of `anaf_etransport_status`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_etransport_status_async(
    client: *const anaf_client,
    upload_id: u64,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_etransport_status(client, upload_id)
    })
}

unsafe fn prepare_etransport_list(
    client: *const anaf_client,
    cif: *const c_char,
    days: u32,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, cif) = unsafe { (client_of(client)?, str_arg(cif, "cif")?.to_owned()) };
    Ok(async move { json_result(&client.etransport().list(&cif, days).await?) })
}

/// The declarations of the last `days` days for `cif`. Result JSON: an array of records.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_etransport_list(
    client: *const anaf_client,
    cif: *const c_char,
    days: u32,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_etransport_list(client, cif, days)
    })
}

/// `_async` twin of `anaf_etransport_list`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_etransport_list_async(
    client: *const anaf_client,
    cif: *const c_char,
    days: u32,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_etransport_list(client, cif, days)
    })
}

unsafe fn prepare_etransport_info(
    client: *const anaf_client,
    operator_cif: *const c_char,
    declarant_cif: *const c_char,
    uit: *const c_char,
    reference: *const c_char,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, operator, declarant, uit, reference) = unsafe {
        (
            client_of(client)?,
            str_arg(operator_cif, "operator_cif")?.to_owned(),
            opt_str_arg(declarant_cif, "declarant_cif")?,
            opt_str_arg(uit, "uit")?,
            opt_str_arg(reference, "reference")?,
        )
    };
    let mut filter = InfoFilter::default();
    if let Some(cif) = declarant {
        filter = filter.declarant_cif(cif);
    }
    if let Some(uit) = uit {
        filter = filter.uit(uit);
    }
    if let Some(reference) = reference {
        filter = filter.reference(reference);
    }
    Ok(async move { json_result(&client.etransport().info(&operator, filter).await?) })
}

/// What ANAF knows of the transports of a transport operator (`operator_cif`), optionally
/// narrowed by declarant CIF, UIT or reference (each NULL: not narrowed). Result JSON:
/// ANAF's records as sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_etransport_info(
    client: *const anaf_client,
    operator_cif: *const c_char,
    declarant_cif: *const c_char,
    uit: *const c_char,
    reference: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_etransport_info(client, operator_cif, declarant_cif, uit, reference)
    })
}

/// `_async` twin of `anaf_etransport_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_etransport_info_async(
    client: *const anaf_client,
    operator_cif: *const c_char,
    declarant_cif: *const c_char,
    uit: *const c_char,
    reference: *const c_char,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_etransport_info(client, operator_cif, declarant_cif, uit, reference)
    })
}

// ---------------------------------------------------------------------------------------------
// Public registries

/// CIFs separated by commas, spaces or new lines, and an optional date (YYYY-MM-DD).
unsafe fn lookup_args(cifs: *const c_char, date: *const c_char) -> Result<(Vec<String>, Option<NaiveDate>), Error> {
    // SAFETY: NULL or NUL-terminated strings per the contract.
    let (cifs, date) = unsafe { (str_arg(cifs, "cifs")?, opt_str_arg(date, "date")?) };
    let cifs = cifs
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let date = date
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| Error::invalid_input("date", format!("`date` must be YYYY-MM-DD, not {d:?}")))
        })
        .transpose()?;
    Ok((cifs, date))
}

unsafe fn prepare_lookup_taxpayers(
    client: *const anaf_client,
    cifs: *const c_char,
    date: *const c_char,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, (cifs, date)) = unsafe { (client_of(client)?, lookup_args(cifs, date)?) };
    Ok(async move { json_result(&client.public().lookup_taxpayers(&cifs, date).await?) })
}

/// Looks companies up in ANAF's public VAT registry (no login). `cifs`: CIFs separated by
/// commas, spaces or new lines (batched by 100, one request a second); `date`: YYYY-MM-DD or
/// NULL (today). Result JSON: `{"found": [...], "not_found": [...]}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_public_lookup_taxpayers(
    client: *const anaf_client,
    cifs: *const c_char,
    date: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_lookup_taxpayers(client, cifs, date)
    })
}

/// `_async` twin of `anaf_public_lookup_taxpayers`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_public_lookup_taxpayers_async(
    client: *const anaf_client,
    cifs: *const c_char,
    date: *const c_char,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_lookup_taxpayers(client, cifs, date)
    })
}

unsafe fn prepare_lookup_register(
    client: *const anaf_client,
    cifs: *const c_char,
    date: *const c_char,
) -> Prepared<impl Future<Output = Result<Option<anaf_result>, Error>> + use<>> {
    // SAFETY: NULL or live arguments per the contract.
    let (client, (cifs, date)) = unsafe { (client_of(client)?, lookup_args(cifs, date)?) };
    Ok(async move { json_result(&client.public().lookup_efactura_register(&cifs, date).await?) })
}

/// Looks companies up in the RO e-Factura register (who must receive e-invoices). Arguments
/// and result shape as `anaf_public_lookup_taxpayers`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_public_lookup_efactura_register(
    client: *const anaf_client,
    cifs: *const c_char,
    date: *const c_char,
    out_result: *mut *mut anaf_result,
    out_error: *mut *mut anaf_error,
) -> anaf_status {
    // SAFETY: forwarded contract.
    run_blocking(out_result, out_error, || unsafe {
        prepare_lookup_register(client, cifs, date)
    })
}

/// `_async` twin of `anaf_public_lookup_efactura_register`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn anaf_public_lookup_efactura_register_async(
    client: *const anaf_client,
    cifs: *const c_char,
    date: *const c_char,
    cancel: *const anaf_cancel,
    callback: anaf_callback,
    user_data: *mut c_void,
) -> anaf_status {
    // SAFETY: forwarded contract.
    spawn_async(cancel, callback, user_data, || unsafe {
        prepare_lookup_register(client, cifs, date)
    })
}
