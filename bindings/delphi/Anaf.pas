{ Anaf.pas: the Delphi / Free Pascal binding of anaf, the client for ANAF's APIs
  (RO e-Factura, RO e-Transport, OAuth at logincert.anaf.ro, public registries).

  One unit, two layers:

  1. The import declarations of every function of anaf.h (crates/anaf-ffi/include/anaf.h),
     with the C names, so the C documentation applies word for word. Every function and every
     callback type is declared `cdecl`. That matters on 32-bit Windows: Delphi's default
     calling convention there is `register` (arguments in EAX, EDX, ECX), while anaf.dll,
     like every C library, expects `cdecl` (arguments on the stack, the caller cleans up).
     A missing `cdecl` compiles without a warning and corrupts the stack at run time. On
     64-bit targets (Win64, Linux, macOS) there is one C calling convention and `cdecl` is
     accepted and ignored, so the same declarations serve every target.

  2. A thin class layer: TAnafOptions, TAnafClient, TAnafTokenStore, TAnafLoginOptions,
     TAnafMessageStream, TAnafSandbox, EAnafError and its subclasses. Each class frees what
     it owns in its destructor; every failure becomes an EAnafError subclass; strings are
     converted between Delphi's UTF-16 `string` and the library's UTF-8.

  The library is anaf.dll on Windows (the 32-bit DLL for a Win32 program, the 64-bit DLL
  for a Win64 program: a process cannot load a DLL of the other width), libanaf.dylib on
  macOS and libanaf.so elsewhere.

  Compiles with Delphi XE2 or later (Win32, Win64) and with Free Pascal 3.2 or later
  (`fpc -Mdelphi`; the unit switches itself to Delphi's Unicode string mode).

  Threads. The library calls back (token store, logs, token events, login hooks) on its own
  threads. A Free Pascal program on Unix must put `cthreads` first in its `uses` clause
  (inside IFDEF UNIX), as the example does. Callbacks must not raise: the class layer
  catches every exception inside them. A callback must not call a blocking method of
  TAnafClient (the library refuses). }
unit Anaf;

{$IFDEF FPC}
  {$MODE DELPHIUNICODE}
{$ENDIF}
{$H+} // long strings
{$T-} // untyped @: `@Handle` fits the `PP...` out-params

interface

uses
  // Free Pascal on Unix: the library's threads call back into Pascal, which needs the C
  // thread manager. The program must list cthreads first in its own uses; if it does not,
  // this makes the program stop at start with Free Pascal's "Make cthreads one of the first
  // units" instead of corrupting memory later on a library thread.
  {$IFDEF FPC}{$IFDEF UNIX}
  cthreads,
  {$ENDIF}{$ENDIF}
  SysUtils, Math;

const
  {$IFDEF MSWINDOWS}
  AnafLib = 'anaf.dll';
  {$ELSE}
  {$IFDEF DARWIN}
  AnafLib = 'libanaf.dylib'; // macOS, Free Pascal
  {$ELSE}
  {$IFDEF MACOS}
  AnafLib = 'libanaf.dylib'; // macOS, Delphi
  {$ELSE}
  AnafLib = 'libanaf.so';
  {$ENDIF}
  {$ENDIF}
  {$ENDIF}

  // The version of anaf.h these declarations follow (anaf_version() gives the library's).
  ANAF_VERSION_MAJOR = 0;
  ANAF_VERSION_MINOR = 1;
  ANAF_VERSION_PATCH = 0;
  ANAF_VERSION_STRING = '0.1.0';

  // anaf_efactura_upload flags (OR them).
  ANAF_UPLOAD_EXTERNAL = 1;     // the buyer is outside Romania (extern=DA)
  ANAF_UPLOAD_SELF_BILLED = 2;  // self-billing: the buyer issues the invoice (autofactura=DA)
  ANAF_UPLOAD_ENFORCEMENT = 4;  // issued by an enforcement body (executare=DA)
  ANAF_UPLOAD_B2C = 8;          // the buyer is a consumer (B2C endpoint)

  // Log levels, most severe first.
  ANAF_LOG_OFF = 0;
  ANAF_LOG_ERROR = 1;
  ANAF_LOG_WARN = 2;
  ANAF_LOG_INFO = 3;
  ANAF_LOG_DEBUG = 4;
  ANAF_LOG_TRACE = 5;

  // Status codes: ANAF_OK or the number of the error's kind. Fixed forever; a new kind gets a
  // new number, so an unknown number is a failure too.
  ANAF_OK = 0;
  ANAF_UNAUTHORIZED = 1;          // HTTP 401: log in again
  ANAF_FORBIDDEN = 2;             // HTTP 403: no right on this service
  ANAF_RATE_LIMITED = 3;          // HTTP 429: see RetryAfterMs
  ANAF_DAILY_LIMIT = 4;           // one of ANAF's daily limits: see Limit
  ANAF_NO_CIF_RIGHT = 5;          // SPV rights, but not on this CIF
  ANAF_NO_CIF_RIGHTS = 6;         // no SPV right on any CIF
  ANAF_NOT_FOUND = 7;             // no such upload, download id or declaration
  ANAF_DOWNLOAD_EXPIRED = 8;      // older than the 60 days ANAF keeps it
  ANAF_DUPLICATE_INVOICE = 9;     // ANAF already holds it: see PreviousUploadId
  ANAF_WAF_REJECTED = 10;         // ANAF's web firewall refused the request
  ANAF_INVALID_INPUT = 11;        // a bad argument or a document ANAF refused
  ANAF_OAUTH = 12;                // the identity provider refused
  ANAF_TIMEOUT = 13;
  ANAF_TRANSPORT = 14;            // DNS, connect, reset, TLS
  ANAF_UNEXPECTED_RESPONSE = 15;
  ANAF_QUOTA_EXHAUSTED = 16;      // the client's own budget for this operation is spent
  ANAF_CANCELLED = 17;
  ANAF_INTERNAL = 18;

type
  // anaf_status: ANAF_OK or an error kind.
  TAnafStatus = Int32;

  // Opaque handles (pointers to structs C never shows).
  PAnafCancel = Pointer;
  PAnafClient = Pointer;
  PAnafError = Pointer;
  PAnafLoginOptions = Pointer;
  PAnafMessageStream = Pointer;
  PAnafOptions = Pointer;
  PAnafResult = Pointer;
  PAnafSandbox = Pointer;
  PAnafTokenSink = Pointer;
  PAnafTokenStore = Pointer;

  // Out-params (`T **`): pass the address of a handle variable, or nil where C allows NULL.
  PPAnafClient = ^PAnafClient;
  PPAnafError = ^PAnafError;
  PPAnafMessageStream = ^PAnafMessageStream;
  PPAnafResult = ^PAnafResult;
  PPAnafSandbox = ^PAnafSandbox;
  PPAnafTokenStore = ^PAnafTokenStore;

  // Callbacks: `cdecl` like everything else (see the top of this unit). They run on library
  // threads and must not let an exception escape.

  // The completion of every _async call: fires once; owns `result_` and `error`.
  TAnafCallback = procedure(user_data: Pointer; status: TAnafStatus; result_: PAnafResult;
    error: PAnafError); cdecl;
  // A text (the authorization URL, or the loopback listener's certificate as PEM).
  TAnafTextCallback = procedure(user_data: Pointer; text: PAnsiChar); cdecl;
  // One log line: level (ANAF_LOG_*), target ("anaf::transport"), message.
  TAnafLogFn = procedure(user_data: Pointer; level: Int32; target: PAnsiChar;
    log_message: PAnsiChar); cdecl;
  // Token store: load (call anaf_token_sink_set, or not when there are none; return 0),
  // save (return 0), clear (return 0), lock/unlock across processes.
  TAnafTokenLoadFn = function(user_data: Pointer; sink: PAnafTokenSink): Int32; cdecl;
  TAnafTokenSaveFn = function(user_data: Pointer; tokens_json: PAnsiChar): Int32; cdecl;
  TAnafTokenClearFn = function(user_data: Pointer): Int32; cdecl;
  TAnafTokenLockFn = function(user_data: Pointer): Int32; cdecl;
  TAnafTokenUnlockFn = procedure(user_data: Pointer); cdecl;
  // A token event as JSON, without secrets.
  TAnafTokenEventFn = procedure(user_data: Pointer; event_json: PAnsiChar); cdecl;
  // Called once when the library will not use a user_data any more.
  TAnafReleaseFn = procedure(user_data: Pointer); cdecl;

// ---------------------------------------------------------------------------------------
// The C ABI: every function of anaf.h, in its order, with its documentation.
// Strings are UTF-8 and NUL-terminated (PAnsiChar); `const char *` results are borrowed,
// `char **` out-params are freed with anaf_string_free.
// ---------------------------------------------------------------------------------------

// The library's version, e.g. "0.1.0" (the same as `ANAF_VERSION_STRING` of the header it
// was built with). Static: do not free.
function anaf_version: PAnsiChar; cdecl; external AnafLib;

// Frees a string the library returned through a `char **` out-param. NULL is ignored.
procedure anaf_string_free(text: PAnsiChar); cdecl; external AnafLib;

// Frees an error. NULL is ignored.
procedure anaf_error_free(error: PAnafError); cdecl; external AnafLib;

// The error's kind as its status number (ANAF_UNAUTHORIZED ...); ANAF_INVALID_INPUT for NULL.
function anaf_error_status(error: PAnafError): TAnafStatus; cdecl; external AnafLib;

// The error's kind as its stable code ("unauthorized", "daily_limit", ...). Borrowed: valid
// until the error is freed. "" for NULL.
function anaf_error_code(error: PAnafError): PAnsiChar; cdecl; external AnafLib;

// The whole message for a person (English, with ANAF's Romanian text quoted). Borrowed:
// valid until the error is freed. "" for NULL.
function anaf_error_message(error: PAnafError): PAnsiChar; cdecl; external AnafLib;

// ANAF's original text (Romanian, UTF-8, ANAF's spelling kept), or NULL when ANAF sent
// none. Borrowed: valid until the error is freed.
function anaf_error_anaf_message(error: PAnafError): PAnsiChar; cdecl; external AnafLib;

// The parameter or document part at fault (e.g. "cif", "xml", "thread"), or NULL.
// Borrowed: valid until the error is freed.
function anaf_error_field(error: PAnafError): PAnsiChar; cdecl; external AnafLib;

// What to do next, in English, or NULL. Borrowed: valid until the error is freed.
function anaf_error_hint(error: PAnafError): PAnsiChar; cdecl; external AnafLib;

// The HTTP status of ANAF's answer, or 0 when there was none.
function anaf_error_http_status(error: PAnafError): UInt16; cdecl; external AnafLib;

// How long ANAF asked to wait (HTTP 429), in milliseconds, or -1.
function anaf_error_retry_after_ms(error: PAnafError): Int64; cdecl; external AnafLib;

// The daily limit that was reached (ANAF_DAILY_LIMIT), or -1.
function anaf_error_limit(error: PAnafError): Int64; cdecl; external AnafLib;

// 1 when an upload may have reached ANAF without an answer (timeout, lost connection,
// cancellation after sending): look for it before sending it again. 0 otherwise.
function anaf_error_upload_outcome_unknown(error: PAnafError): Int32; cdecl; external AnafLib;

// The upload index of the invoice ANAF already holds (ANAF_DUPLICATE_INVOICE), or 0.
function anaf_error_previous_upload_id(error: PAnafError): UInt64; cdecl; external AnafLib;

// The upload index ANAF had already given when the call failed or was cancelled, or 0.
function anaf_error_upload_id(error: PAnafError): UInt64; cdecl; external AnafLib;

// Every detail as one JSON object with fixed keys (`kind`, `number`, `message`,
// `http_status`, `anaf_message`, `hint`, `field`, `cif`, `oauth_error`, `retry_after_ms`,
// `limit`, `limit_scope`, `previous_upload_id`, `upload_id`, `support_id`,
// `upload_outcome_unknown`, `transient`, `source`, `text`; `null` where one does not apply).
// Borrowed: valid until the error is freed. "{}" for NULL.
function anaf_error_json(error: PAnafError): PAnsiChar; cdecl; external AnafLib;

// Frees a result. NULL is ignored.
procedure anaf_result_free(result_: PAnafResult); cdecl; external AnafLib;

// The result as JSON (UTF-8), in the shape documented for each call. Borrowed: valid until
// the result is freed. "null" for NULL.
function anaf_result_json(result_: PAnafResult): PAnsiChar; cdecl; external AnafLib;

// The result's bytes (the ZIP of `anaf_efactura_download`, the PDF of `anaf_efactura_to_pdf`),
// byte-exact. Returns a pointer borrowed from the result (valid until it is freed) and writes
// the length to `out_len`; NULL and 0 when the result carries no bytes.
function anaf_result_bytes(
  result_: PAnafResult;
  out_len: PNativeUInt
): PByte; cdecl; external AnafLib;

// Makes a cancellation token for `_async` calls. One token may serve many calls. Free it with
// `anaf_cancel_free` (at any time: calls keep their own reference). Never returns NULL.
function anaf_cancel_new: PAnafCancel; cdecl; external AnafLib;

// Cancels every call given this token; their callbacks fire with ANAF_CANCELLED (an upload
// cancelled after it was sent reports `anaf_error_upload_outcome_unknown` = 1). Any thread;
// NULL is ignored.
procedure anaf_cancel_fire(cancel: PAnafCancel); cdecl; external AnafLib;

// Frees a token. NULL is ignored.
procedure anaf_cancel_free(cancel: PAnafCancel); cdecl; external AnafLib;

// Sets how many threads run the library's I/O (default 2: the work is waiting on the network).
// Call before the first I/O call; refused (ANAF_INVALID_INPUT) once the runtime runs.
function anaf_runtime_configure(
  worker_threads: UInt32;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Stops the library's threads, waiting at most `timeout_ms` for calls in flight (their
// callbacks fire with ANAF_INTERNAL). Call before unloading the library (e.g. `FreeLibrary`).
// A later I/O call starts the runtime again. Refused from a library thread.
function anaf_runtime_shutdown(
  timeout_ms: UInt64;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Checks a CIF (CUI: a company's tax number, with or without "RO") with its check digit.
// On success writes the normalised CIF (digits only) to `out_cif`, freed with
// `anaf_string_free`.
function anaf_cif_validate(
  text: PAnsiChar;
  out_cif: PPAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Makes client options with the defaults: the `test` environment, ANAF's hosts, tokens in
// memory, ANAF's per-minute budget, retries of idempotent calls. Never returns NULL.
function anaf_options_new: PAnafOptions; cdecl; external AnafLib;

// Frees options. NULL is ignored.
procedure anaf_options_free(options: PAnafOptions); cdecl; external AnafLib;

// Sets the environment: "test" (ANAF's test API) or "prod".
function anaf_options_set_environment(
  options: PAnafOptions;
  environment: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Points logincert, api and webservicesp at one base URL (a sandbox, a proxy). Plain HTTP
// is accepted only for loopback addresses.
function anaf_options_set_base_url(
  options: PAnafOptions;
  base_url: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Sets the three base URLs separately: the identity provider (logincert), the API
// (api.anaf.ro) and the public services (webservicesp).
function anaf_options_set_endpoints(
  options: PAnafOptions;
  oauth_url: PAnsiChar;
  api_url: PAnsiChar;
  public_url: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Sets the application registered in ANAF's portal: its client ID, client secret and the
// redirect URI registered with it. The secret is copied; it never appears in logs or errors.
function anaf_options_set_application(
  options: PAnafOptions;
  client_id: PAnsiChar;
  client_secret: PAnsiChar;
  redirect_uri: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Keeps the tokens in a file (JSON, owner-only permissions, replaced atomically, locked
// across processes during a refresh).
function anaf_options_set_token_file(
  options: PAnafOptions;
  path: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// ANAF's per-minute budget the client keeps to (0: no limit of its own). Default: ANAF's.
function anaf_options_set_requests_per_minute(
  options: PAnafOptions;
  requests_per_minute: UInt32;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Retries of idempotent calls (uploads are never retried): `max_attempts` in all (1: no
// retry), backoff from `initial_delay_ms` doubling up to `max_delay_ms`.
function anaf_options_set_retry(
  options: PAnafOptions;
  max_attempts: UInt32;
  initial_delay_ms: UInt64;
  max_delay_ms: UInt64;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// The time limit of one request and of connecting, in milliseconds (0 keeps the default).
function anaf_options_set_timeouts(
  options: PAnafOptions;
  request_timeout_ms: UInt64;
  connect_timeout_ms: UInt64;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// The User-Agent header (default "anaf/<version>").
function anaf_options_set_user_agent(
  options: PAnafOptions;
  user_agent: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// An HTTP(S) proxy URL for every request.
function anaf_options_set_proxy(
  options: PAnafOptions;
  proxy_url: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Trusts one more root certificate (PEM), e.g. a company's TLS-inspecting proxy.
function anaf_options_add_root_certificate(
  options: PAnafOptions;
  pem: PByte;
  pem_len: NativeUInt;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// How long before expiry the access token is refreshed, in milliseconds.
function anaf_options_set_refresh_margin(
  options: PAnafOptions;
  margin_ms: UInt64;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// The largest answer accepted, in bytes (default 64 MiB).
function anaf_options_set_max_response_bytes(
  options: PAnafOptions;
  max_bytes: UInt64;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// How many status polls `anaf_efactura_upload_and_wait` may spend on one upload.
function anaf_options_set_status_poll_budget(
  options: PAnafOptions;
  polls: UInt32;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// The state database: the submission journal of `anaf_efactura_submit` and the quota ledger
// (a SQLite file or a postgres:// URL). Opened now.
function anaf_options_set_state_database(
  options: PAnafOptions;
  database: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Keeps the tokens in the state database (set it first) under `name`: one login shared by
// every process and machine using that database, refreshed by one of them at a time.
function anaf_options_set_database_tokens(
  options: PAnafOptions;
  name: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// How long after a lost answer `anaf_efactura_submit` looks for the invoice at ANAF before
// sending it again (milliseconds; default 30 minutes).
function anaf_options_set_resend_after(
  options: PAnafOptions;
  resend_after_ms: UInt64;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// One daily limit for every counted call (0: ANAF's limits less 5%).
function anaf_options_set_daily_limit(
  options: PAnafOptions;
  limit: UInt32;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Makes a client from options (copied: the options may be freed or changed afterwards).
function anaf_client_new(
  options: PAnafOptions;
  out_client: PPAnafClient;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Frees a client. NULL is ignored. Calls still running finish normally.
procedure anaf_client_free(client: PAnafClient); cdecl; external AnafLib;

// The authorization URL to open in the user's browser, and the `state` to check on the
// redirect. `state` may be NULL (a random one is made). Result JSON: `{"url": "...",
// "state": "..."}`. No I/O: this call has no `_async` twin.
function anaf_oauth_authorization_url(
  client: PAnafClient;
  state: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Exchanges an authorization code (within 60 s of the redirect) for tokens, which the
// client stores. Result JSON: the token information without the tokens themselves
// (`expires_at`, `refresh_expires_at`, `scope`, ...; see README).
function anaf_oauth_exchange_code(
  client: PAnafClient;
  code: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_oauth_exchange_code`.
function anaf_oauth_exchange_code_async(
  client: PAnafClient;
  code: PAnsiChar;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Completes a login from the URL the browser was redirected to: checks `state` (against
// forged redirects), reads ANAF's error if the user refused, exchanges the code. Result as
// `anaf_oauth_exchange_code`.
function anaf_oauth_complete_authorization(
  client: PAnafClient;
  redirected_url: PAnsiChar;
  expected_state: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_oauth_complete_authorization`.
function anaf_oauth_complete_authorization_async(
  client: PAnafClient;
  redirected_url: PAnsiChar;
  expected_state: PAnsiChar;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Refreshes the tokens now (calls refresh by themselves when needed; this is for a
// "refresh" button). ANAF rotates both tokens; the new pair is saved before this returns.
// Result as `anaf_oauth_exchange_code`.
function anaf_oauth_refresh(
  client: PAnafClient;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_oauth_refresh`.
function anaf_oauth_refresh_async(
  client: PAnafClient;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Revokes the tokens at the identity provider and clears them locally. Result JSON:
// `"confirmed"` or `"unconfirmed"` (ANAF did not confirm; the tokens may stay valid until
// they expire).
function anaf_oauth_revoke(
  client: PAnafClient;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_oauth_revoke`.
function anaf_oauth_revoke_async(
  client: PAnafClient;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Where the login stands, without secrets. Result JSON: `{"logged_in": true, "tokens":
// {"expires_at", ...} | null, "unsaved": false (true: the store refused the current pair),
// "login_required": false (true: the user must log in again), "generation": 3}`.
function anaf_oauth_token_status(
  client: PAnafClient;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_oauth_token_status`.
function anaf_oauth_token_status_async(
  client: PAnafClient;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// The current tokens WITH their secrets, as the JSON a token store saves (to move them
// to another store). The result is NULL when there are none. Keep this JSON secret.
function anaf_oauth_tokens(
  client: PAnafClient;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_oauth_tokens`.
function anaf_oauth_tokens_async(
  client: PAnafClient;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Replaces the tokens (JSON as `anaf_oauth_tokens` gives) and saves them to the store.
// The result is NULL.
function anaf_oauth_set_tokens(
  client: PAnafClient;
  tokens_json: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_oauth_set_tokens`.
function anaf_oauth_set_tokens_async(
  client: PAnafClient;
  tokens_json: PAnsiChar;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Forgets the tokens here and in the store ("log out" without revoking). The result is NULL.
function anaf_oauth_clear_tokens(
  client: PAnafClient;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_oauth_clear_tokens`.
function anaf_oauth_clear_tokens_async(
  client: PAnafClient;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Saves, now, tokens the store refused earlier ("unsaved": true in the token status); the
// client also retries before its next calls. The result is NULL.
function anaf_oauth_save_tokens(
  client: PAnafClient;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_oauth_save_tokens`.
function anaf_oauth_save_tokens_async(
  client: PAnafClient;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Login options with the defaults: open the system browser, five minutes to log in.
// Never returns NULL.
function anaf_login_options_new: PAnafLoginOptions; cdecl; external AnafLib;

// Frees login options. NULL is ignored.
procedure anaf_login_options_free(options: PAnafLoginOptions); cdecl; external AnafLib;

// 1: open the system browser (default); 0: do not (show the URL yourself).
function anaf_login_options_set_open_browser(
  options: PAnafLoginOptions;
  open_browser: Int32;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// How long the user has to log in, in milliseconds (0: no limit).
function anaf_login_options_set_timeout(
  options: PAnafLoginOptions;
  timeout_ms: UInt64;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Called with the authorization URL (e.g. to show it, or open it in an embedded browser).
// NULL removes it.
function anaf_login_options_set_url_callback(
  options: PAnafLoginOptions;
  callback: TAnafTextCallback;
  user_data: Pointer;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Called with the loopback listener's certificate (PEM), for a program that embeds a
// browser and can trust it. NULL removes it.
function anaf_login_options_set_certificate_callback(
  options: PAnafLoginOptions;
  callback: TAnafTextCallback;
  user_data: Pointer;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// The whole desktop login: listens on the registered HTTPS loopback redirect URI, opens the
// browser at ANAF's page (the user picks the certificate), receives the code and exchanges
// it. `options` may be NULL (defaults). Result as `anaf_oauth_exchange_code`.
function anaf_oauth_login_interactive(
  client: PAnafClient;
  options: PAnafLoginOptions;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_oauth_login_interactive`.
function anaf_oauth_login_interactive_async(
  client: PAnafClient;
  options: PAnafLoginOptions;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// ANAF's TestOauth service: checks that the login works. Result JSON: ANAF's greeting as a
// JSON string.
function anaf_hello(
  client: PAnafClient;
  name: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_hello`.
function anaf_hello_async(
  client: PAnafClient;
  name: PAnsiChar;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Uploads an invoice (`xml`, `xml_len` bytes, sent as they are) for the company `cif`.
// `standard`: "ubl" (NULL: the default), "cn" (credit note), "cii", "rasp" (a message to the
// seller); `flags`: `ANAF_UPLOAD_*`. Never retried: on ANAF_TIMEOUT or ANAF_TRANSPORT with
// `anaf_error_upload_outcome_unknown` the invoice may be at ANAF. Result JSON: `{"upload_id":
// 5001130147, "response_time": "...", ...}`.
function anaf_efactura_upload(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  cif: PAnsiChar;
  standard: PAnsiChar;
  flags: UInt32;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_upload`. Cancelling after the invoice was sent reports
// ANAF_CANCELLED with `anaf_error_upload_outcome_unknown` = 1.
function anaf_efactura_upload_async(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  cif: PAnsiChar;
  standard: PAnsiChar;
  flags: UInt32;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Uploads an invoice at most once, through the state database. Result JSON: the submission,
// `{"key", "state", "upload_id", ...}`; "unknown": the answer was lost (never send it
// yourself: submit it again later, or call `anaf_efactura_resume_submissions`).
function anaf_efactura_submit(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  cif: PAnsiChar;
  standard: PAnsiChar;
  flags: UInt32;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_submit`.
function anaf_efactura_submit_async(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  cif: PAnsiChar;
  standard: PAnsiChar;
  flags: UInt32;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Moves on every unsettled submission (after a restart). Result JSON: an array.
function anaf_efactura_resume_submissions(
  client: PAnafClient;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_resume_submissions`.
function anaf_efactura_resume_submissions_async(
  client: PAnafClient;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// The journal's submissions, newest first (`cif`, `state`: NULL for all; `limit` 0: 1000).
function anaf_efactura_submissions(
  client: PAnafClient;
  cif: PAnsiChar;
  state: PAnsiChar;
  limit: UInt32;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_submissions`.
function anaf_efactura_submissions_async(
  client: PAnafClient;
  cif: PAnsiChar;
  state: PAnsiChar;
  limit: UInt32;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Today's use of ANAF's daily limits, as the quota ledger counts them.
function anaf_quota_usage(
  client: PAnafClient;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_quota_usage`.
function anaf_quota_usage_async(
  client: PAnafClient;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Uploads, then polls the state until it is final (`timeout_ms`: how long to wait; 0 keeps
// the default). Result JSON: `{"receipt": {...}, "state": {"state": "ok", "download_id":
// ...}}`.
function anaf_efactura_upload_and_wait(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  cif: PAnsiChar;
  standard: PAnsiChar;
  flags: UInt32;
  timeout_ms: UInt64;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `anaf_efactura_upload_and_wait` with every polling setting (a negative value keeps the
// default): timeout_ms (600 s), first_poll_ms (2 s), max_interval_ms (60 s), max_polls (the
// client's budget). Result JSON as `anaf_efactura_upload_and_wait`, with "polls".
function anaf_efactura_upload_and_wait_polling(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  cif: PAnsiChar;
  standard: PAnsiChar;
  flags: UInt32;
  timeout_ms: Int64;
  first_poll_ms: Int64;
  max_interval_ms: Int64;
  max_polls: Int64;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_upload_and_wait_polling`.
function anaf_efactura_upload_and_wait_polling_async(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  cif: PAnsiChar;
  standard: PAnsiChar;
  flags: UInt32;
  timeout_ms: Int64;
  first_poll_ms: Int64;
  max_interval_ms: Int64;
  max_polls: Int64;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_upload_and_wait`. Cancelled while polling, the error
// carries the upload id (`anaf_error_upload_id`).
function anaf_efactura_upload_and_wait_async(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  cif: PAnsiChar;
  standard: PAnsiChar;
  flags: UInt32;
  timeout_ms: UInt64;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// The state ("stare") of an upload. Result JSON: `{"state": "in_progress" | "ok" | "nok" |
// "rejected_xml", "download_id": 3001293434 | null}`.
function anaf_efactura_status(
  client: PAnafClient;
  upload_id: UInt64;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_status`.
function anaf_efactura_status_async(
  client: PAnafClient;
  upload_id: UInt64;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Downloads an answer ("descarcare"): ANAF's ZIP with the invoice (or ANAF's error
// document) and its signature. `anaf_result_bytes` gives the ZIP exactly as received; the
// JSON is `{"upload_id", "document_name", "signature_name", "document" (the XML as text),
// "signature" (XML), "error_report" (ANAF's reasons for a `nok`, or null), "error" (the same
// reasons as an error object, as `anaf_error_json` has them: kind "duplicate_invoice" with
// "previous_upload_id" for a duplicate; or null), "invoice_summary" (the invoice's main fields:
// "number", "issue_date", "seller", "buyer", "currency", totals as decimal strings, "lines";
// null for an error document)}`.
function anaf_efactura_download(
  client: PAnafClient;
  download_id: UInt64;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_download`.
function anaf_efactura_download_async(
  client: PAnafClient;
  download_id: UInt64;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Opens a saved answer ZIP (from `anaf_efactura_download` or a file): checks its entries
// and gives the same result as a download, without I/O.
function anaf_efactura_open_archive(
  zip: PByte;
  zip_len: NativeUInt;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// The messages of the last `days` days (1 to 60) for `cif`. `filter`: NULL (all), "sent",
// "received", "errors", "buyer_message". An empty list is a result, not an error. Result
// JSON: an array of `{"id", "upload_id", "cif", "kind", "created_at", "details", ...}`.
function anaf_efactura_list_messages(
  client: PAnafClient;
  cif: PAnsiChar;
  days: UInt32;
  filter: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_list_messages`.
function anaf_efactura_list_messages_async(
  client: PAnafClient;
  cif: PAnsiChar;
  days: UInt32;
  filter: PAnsiChar;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// One page (from 1) of the messages between two times (Unix milliseconds). Result JSON:
// `{"messages": [...], "page", "total_pages", "total_records", ...}`.
function anaf_efactura_list_messages_page(
  client: PAnafClient;
  cif: PAnsiChar;
  start_unix_ms: Int64;
  end_unix_ms: Int64;
  page: UInt32;
  filter: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_list_messages_page`.
function anaf_efactura_list_messages_page_async(
  client: PAnafClient;
  cif: PAnsiChar;
  start_unix_ms: Int64;
  end_unix_ms: Int64;
  page: UInt32;
  filter: PAnsiChar;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Archives every message ANAF keeps for `cif` (from `since_unix_ms` when not 0) into
// `folder`, each downloaded once; `progress` (may be nil) gets JSON counts while it runs.
function anaf_efactura_sync(
  client: PAnafClient;
  cif: PAnsiChar;
  folder: PAnsiChar;
  filter: PAnsiChar;
  since_unix_ms: Int64;
  pdf: Int32;
  progress: TAnafTextCallback;
  progress_user_data: Pointer;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_sync`.
function anaf_efactura_sync_async(
  client: PAnafClient;
  cif: PAnsiChar;
  folder: PAnsiChar;
  filter: PAnsiChar;
  since_unix_ms: Int64;
  pdf: Int32;
  progress: TAnafTextCallback;
  progress_user_data: Pointer;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Starts a stream over the messages from `start_unix_ms` to `end_unix_ms` (0: now). No
// I/O yet. The start is clamped to ANAF's 60 days. Free with `anaf_message_stream_free`.
function anaf_efactura_messages(
  client: PAnafClient;
  cif: PAnsiChar;
  start_unix_ms: Int64;
  end_unix_ms: Int64;
  filter: PAnsiChar;
  out_stream: PPAnafMessageStream;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// The next page (JSON as `anaf_efactura_list_messages_page`), or a NULL result after the
// last. A page may be empty while ANAF says more follow.
function anaf_message_stream_next(
  stream: PAnafMessageStream;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_message_stream_next` (NULL result after the last page).
function anaf_message_stream_next_async(
  stream: PAnafMessageStream;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Where the stream really started (Unix ms): later than asked when ANAF refused a start
// older than its 60 days. 0 for NULL.
function anaf_message_stream_effective_start(
  stream: PAnafMessageStream
): Int64; cdecl; external AnafLib;

// Where the stream's interval ends (Unix ms): the end asked for, or "now" fixed when the
// first page was read; 0 before that, and for NULL.
function anaf_message_stream_effective_end(
  stream: PAnafMessageStream
): Int64; cdecl; external AnafLib;

// Frees a stream. NULL is ignored. A pending `_async` next still completes.
procedure anaf_message_stream_free(stream: PAnafMessageStream); cdecl; external AnafLib;

// Validates an invoice with ANAF's public service (no login needed). `kind`: "invoice"
// (NULL) or "credit_note". An invalid document is a result: `{"valid": false, "messages":
// [...], "trace_id": ...}`.
function anaf_efactura_validate(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  kind: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_validate`.
function anaf_efactura_validate_async(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  kind: PAnsiChar;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Renders an invoice as PDF with ANAF's public service (`validate` 1: validate first).
// Result JSON `{"outcome": "pdf"}` with the PDF as `anaf_result_bytes`, or `{"outcome":
// "invalid", "report": {...}}` when ANAF would not render it.
function anaf_efactura_to_pdf(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  kind: PAnsiChar;
  validate: Int32;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_to_pdf`.
function anaf_efactura_to_pdf_async(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  kind: PAnsiChar;
  validate: Int32;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Checks ANAF's signature of a downloaded invoice. Result JSON: `{"valid": true, "message":
// "..."}` (ANAF's message).
function anaf_efactura_verify_signature(
  client: PAnafClient;
  invoice_xml: PByte;
  invoice_len: NativeUInt;
  signature_xml: PByte;
  signature_len: NativeUInt;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_efactura_verify_signature`.
function anaf_efactura_verify_signature_async(
  client: PAnafClient;
  invoice_xml: PByte;
  invoice_len: NativeUInt;
  signature_xml: PByte;
  signature_len: NativeUInt;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Declares a road transport (notification, correction, deletion, confirmation) for `cif`.
// `version`: the schema version, 2 (0 means 2) or 1. Never retried. Result JSON:
// `{"upload_id", "uit" (the transport's UIT code), ...}`.
function anaf_etransport_upload(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  cif: PAnsiChar;
  version: UInt32;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_etransport_upload`.
function anaf_etransport_upload_async(
  client: PAnafClient;
  xml: PByte;
  xml_len: NativeUInt;
  cif: PAnsiChar;
  version: UInt32;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// The state of an e-Transport declaration. Result JSON: `{"state": "ok" | "nok" |
// "in_progress" | ..., ...}`.
function anaf_etransport_status(
  client: PAnafClient;
  upload_id: UInt64;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_etransport_status`.
function anaf_etransport_status_async(
  client: PAnafClient;
  upload_id: UInt64;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// The declarations of the last `days` days for `cif`. Result JSON: an array of records.
function anaf_etransport_list(
  client: PAnafClient;
  cif: PAnsiChar;
  days: UInt32;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_etransport_list`.
function anaf_etransport_list_async(
  client: PAnafClient;
  cif: PAnsiChar;
  days: UInt32;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// What ANAF knows of the transports of a transport operator (`operator_cif`), optionally
// narrowed by declarant CIF, UIT or reference (each NULL: not narrowed). Result JSON:
// ANAF's records as sent.
function anaf_etransport_info(
  client: PAnafClient;
  operator_cif: PAnsiChar;
  declarant_cif: PAnsiChar;
  uit: PAnsiChar;
  reference: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_etransport_info`.
function anaf_etransport_info_async(
  client: PAnafClient;
  operator_cif: PAnsiChar;
  declarant_cif: PAnsiChar;
  uit: PAnsiChar;
  reference: PAnsiChar;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Looks companies up in ANAF's public VAT registry (no login). `cifs`: CIFs separated by
// commas, spaces or new lines (batched by 100, one request a second); `date`: YYYY-MM-DD or
// NULL (today). Result JSON: `{"found": [...], "not_found": [...]}`.
function anaf_public_lookup_taxpayers(
  client: PAnafClient;
  cifs: PAnsiChar;
  date: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_public_lookup_taxpayers`.
function anaf_public_lookup_taxpayers_async(
  client: PAnafClient;
  cifs: PAnsiChar;
  date: PAnsiChar;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Looks companies up in the RO e-Factura register (who must receive e-invoices). Arguments
// and result shape as `anaf_public_lookup_taxpayers`.
function anaf_public_lookup_efactura_register(
  client: PAnafClient;
  cifs: PAnsiChar;
  date: PAnsiChar;
  out_result: PPAnafResult;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// `_async` twin of `anaf_public_lookup_efactura_register`.
function anaf_public_lookup_efactura_register_async(
  client: PAnafClient;
  cifs: PAnsiChar;
  date: PAnsiChar;
  cancel: PAnafCancel;
  callback: TAnafCallback;
  user_data: Pointer
): TAnafStatus; cdecl; external AnafLib;

// Sends the library's logs at `max_level` (`ANAF_LOG_*`) and more severe to `callback`
// (NULL or ANAF_LOG_OFF: stop). Logs never contain tokens, secrets or codes. Process-wide;
// a second call replaces the first. In a process where Rust code already installed a global
// `tracing` subscriber this returns ANAF_INTERNAL.
function anaf_set_log_callback(
  max_level: Int32;
  callback: TAnafLogFn;
  user_data: Pointer;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

{$IFNDEF ANAF_NO_SANDBOX}
// Starts a sandbox. `options_json` may be NULL (ANAF's documented behaviour: uploads take
// 2 s to process) or e.g. `{"instant": true}` (final at once); other keys:
// `port`, `processing_delay_ms`, `indexing_lag_ms`, `per_minute_limit`, `code_lifetime_ms`,
// `access_token_lifetime_ms`, `rotate_refresh_tokens`, `waf_rules`,
// `public_registry_pacing`, `default_client_id`, `default_client_secret`,
// `default_redirect_uris`, `worker_threads`, `daily_limits` (`{"efactura_status": 1, ...}`).
function anaf_sandbox_start(
  options_json: PAnsiChar;
  out_sandbox: PPAnafSandbox;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Stops the sandbox and frees it. NULL is ignored.
procedure anaf_sandbox_free(sandbox: PAnafSandbox); cdecl; external AnafLib;

// `http://127.0.0.1:PORT`: the base URL for logincert, api and webservicesp alike.
// Borrowed: valid until the sandbox is freed. "" for NULL.
function anaf_sandbox_base_url(sandbox: PAnafSandbox): PAnsiChar; cdecl; external AnafLib;

// The base URL, the default application (`client_id`, `client_secret`, `redirect_uris`)
// and the default identity (certificate `serial`, `cifs`) as JSON. Free with
// `anaf_string_free`.
function anaf_sandbox_info(
  sandbox: PAnafSandbox;
  out_json: PPAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Points client options at the sandbox: its base URL and its default application (with the
// first registered redirect URI).
function anaf_sandbox_configure(
  sandbox: PAnafSandbox;
  options: PAnafOptions;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Registers an application, as ANAF's portal does. `spec_json`: `{"name": "...",
// "redirect_uris": ["https://..."], "services": ["efactura", "etransport"]}`. Writes the
// application (with its generated `client_id` and `client_secret`) as JSON.
function anaf_sandbox_register_app(
  sandbox: PAnafSandbox;
  spec_json: PAnsiChar;
  out_json: PPAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Adds a user (a certificate) with SPV rights: `{"serial": "..." (optional), "cifs":
// ["8000000000"], "services": ["efactura"]}`. Writes the identity as JSON.
function anaf_sandbox_add_identity(
  sandbox: PAnafSandbox;
  spec_json: PAnsiChar;
  out_json: PPAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Makes a company known with its registry facts (what the VAT registry answers), as the
// admin API's company JSON (`{"cif": "...", "name": "...", ...}`).
function anaf_sandbox_set_company(
  sandbox: PAnafSandbox;
  spec_json: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// An authorization code without a browser, as if the user had picked their certificate.
// `request_json` NULL: the default application, its first redirect URI and the default
// identity; otherwise `{"client_id", "redirect_uri", "serial", "state" (optional)}`. Writes
// the code (free with `anaf_string_free`); exchange it within 60 s.
function anaf_sandbox_authorize(
  sandbox: PAnafSandbox;
  request_json: PAnsiChar;
  out_code: PPAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Makes the next matching requests fail: `{"endpoint": "efactura.upload" | "*", "fault":
// {"kind": "status", "status": 500, ...}, "times": 1}` (the admin API's fault JSON: latency,
// status, reset, waf_block, accept_then_drop, endless_body, reply, redirect).
function anaf_sandbox_inject_fault(
  sandbox: PAnafSandbox;
  fault_json: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Removes every injected fault. NULL is ignored.
procedure anaf_sandbox_clear_faults(sandbox: PAnafSandbox); cdecl; external AnafLib;

// Moves the sandbox clock forward (code and token expiry, processing, retention and daily
// limits follow it). NULL is ignored.
procedure anaf_sandbox_advance_clock(
  sandbox: PAnafSandbox;
  milliseconds: UInt64
); cdecl; external AnafLib;

// Everything uploaded (e-Factura and e-Transport), for one CIF or all (`cif` NULL), oldest
// first, as a JSON array. Free with `anaf_string_free`.
function anaf_sandbox_uploads(
  sandbox: PAnafSandbox;
  cif: PAnsiChar;
  out_json: PPAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// The requests the sandbox answered (no secrets), oldest first, as a JSON array.
function anaf_sandbox_requests(
  sandbox: PAnafSandbox;
  out_json: PPAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Creates received invoices for a company (`{"cif": "...", "count": 250, "days_back": 30}`),
// so lists, pages and downloads can be tried at volume. Writes their upload ids (JSON array).
function anaf_sandbox_seed_received_invoices(
  sandbox: PAnafSandbox;
  request_json: PAnsiChar;
  out_json: PPAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// A valid CIUS-RO invoice (one line, 2 × 100.00 RON, 19 % VAT, issued today) from
// `seller_cif` to `buyer_cif`, for tests. Writes the XML; free with `anaf_string_free`.
function anaf_sandbox_sample_invoice(
  number: PAnsiChar;
  seller_cif: PAnsiChar;
  buyer_cif: PAnsiChar;
  out_xml: PPAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// A valid e-Transport notification (schema v2) declared by `declarant_cif`, for tests.
// Writes the XML; free with `anaf_string_free`.
function anaf_sandbox_sample_transport(
  declarant_cif: PAnsiChar;
  reference: PAnsiChar;
  out_xml: PPAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

{$ENDIF ANAF_NO_SANDBOX}

// Sets the JSON the load callback found. Only inside the load callback; the text is copied.
function anaf_token_sink_set(
  sink: PAnafTokenSink;
  tokens_json: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Makes a token store from the host's load and save callbacks (both required). `release`
// (may be nil) is called once when the library no longer uses user_data.
function anaf_token_store_new(
  load: TAnafTokenLoadFn;
  save: TAnafTokenSaveFn;
  release: TAnafReleaseFn;
  user_data: Pointer;
  out_store: PPAnafTokenStore;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Adds the clear callback (without it, clearing forgets only the copy in memory).
function anaf_token_store_set_clear(
  store: PAnafTokenStore;
  clear: TAnafTokenClearFn;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Adds a lock across processes, taken around each refresh (both callbacks, or both NULL).
function anaf_token_store_set_lock(
  store: PAnafTokenStore;
  lock: TAnafTokenLockFn;
  unlock: TAnafTokenUnlockFn;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Names the storage these callbacks reach (e.g. "erp-db:company-42"): every client of this
// process whose store has the same name shares one token manager (one refresh at a time),
// even when the program makes a new client per operation. NULL removes the name.
function anaf_token_store_set_sharing_key(
  store: PAnafTokenStore;
  sharing_key: PAnsiChar;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Frees a store handle. NULL is ignored. Options and clients it was given to keep working.
procedure anaf_token_store_free(store: PAnafTokenStore); cdecl; external AnafLib;

// Keeps the tokens through the host's callbacks. Clients made from these options share one
// store (and one refresh at a time). The store handle may be freed afterwards.
function anaf_options_set_token_store(
  options: PAnafOptions;
  store: PAnafTokenStore;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// Calls `callback` with every token event (new tokens after a login or a refresh, a save
// that failed, a login now required, ...), as JSON without secrets, on a library thread, in
// order, without holding up any call. NULL removes it. `release` (may be nil) is called once
// when the library no longer uses user_data.
function anaf_options_set_token_event_callback(
  options: PAnafOptions;
  callback: TAnafTokenEventFn;
  release: TAnafReleaseFn;
  user_data: Pointer;
  out_error: PPAnafError
): TAnafStatus; cdecl; external AnafLib;

// ---------------------------------------------------------------------------------------
// The class layer.
// ---------------------------------------------------------------------------------------

type
  // A successful call's answer: its JSON (the shape documented on each C function; ignore keys
  // you do not know) and, for a ZIP or a PDF, its bytes. IsNull: the call gave no result
  // (Tokens when there are none, SetTokens, ClearTokens); Json is then 'null'.
  TAnafResult = record
    IsNull: Boolean;
    Json: string;
    Bytes: TBytes;
  end;

  // Every failure of the library: the status, ANAF's own text and the other details of
  // anaf_error, copied (the anaf_error is freed before the exception is raised). A subclass
  // per kind, so `on E: EAnafRateLimited do` works; an unknown status raises EAnafError itself.
  EAnafError = class(Exception)
  private
    FStatus: TAnafStatus;
    FCode: string;
    FAnafMessage: string;
    FField: string;
    FHint: string;
    FHttpStatus: Integer;
    FRetryAfterMs: Int64;
    FLimit: Int64;
    FUploadOutcomeUnknown: Boolean;
    FPreviousUploadId: UInt64;
    FUploadId: UInt64;
    FJson: string;
  public
    // Copies everything out of `Error` (which may be nil: then only the status is known).
    // Does not free it: AnafRaise does.
    constructor CreateFromError(AStatus: TAnafStatus; Error: PAnafError);
    // An error found on the Pascal side (e.g. a required handler missing).
    constructor CreateStatus(AStatus: TAnafStatus; const Msg: string);
    // ANAF_UNAUTHORIZED ... ANAF_INTERNAL.
    property Status: TAnafStatus read FStatus;
    // The stable code: "unauthorized", "daily_limit", ...
    property Code: string read FCode;
    // ANAF's original text (Romanian, diacritics kept), '' when ANAF sent none.
    property AnafMessage: string read FAnafMessage;
    // The parameter or document part at fault ("cif", "xml", "thread"), or ''.
    property Field: string read FField;
    // What to do next (English), or ''.
    property Hint: string read FHint;
    // The HTTP status of ANAF's answer, 0 when there was none.
    property HttpStatus: Integer read FHttpStatus;
    // HTTP 429: how long ANAF asked to wait, or -1.
    property RetryAfterMs: Int64 read FRetryAfterMs;
    // ANAF_DAILY_LIMIT: the limit that was reached, or -1.
    property Limit: Int64 read FLimit;
    // An upload may have reached ANAF without an answer: look for it before sending again.
    property UploadOutcomeUnknown: Boolean read FUploadOutcomeUnknown;
    // ANAF_DUPLICATE_INVOICE: the upload ANAF already holds, or 0.
    property PreviousUploadId: UInt64 read FPreviousUploadId;
    // The upload id ANAF had already given when the call failed, or 0.
    property UploadId: UInt64 read FUploadId;
    // Every detail as one JSON object (anaf_error_json).
    property Json: string read FJson;
  end;
  EAnafErrorClass = class of EAnafError;

  EAnafUnauthorized = class(EAnafError);
  EAnafForbidden = class(EAnafError);
  EAnafRateLimited = class(EAnafError);
  EAnafDailyLimit = class(EAnafError);
  EAnafNoCifRight = class(EAnafError);
  EAnafNoCifRights = class(EAnafError);
  EAnafNotFound = class(EAnafError);
  EAnafDownloadExpired = class(EAnafError);
  EAnafDuplicateInvoice = class(EAnafError);
  EAnafWafRejected = class(EAnafError);
  EAnafInvalidInput = class(EAnafError);
  EAnafOAuth = class(EAnafError);
  EAnafTimeout = class(EAnafError);
  EAnafTransport = class(EAnafError);
  EAnafUnexpectedResponse = class(EAnafError);
  EAnafQuotaExhausted = class(EAnafError);
  EAnafCancelled = class(EAnafError);
  EAnafInternal = class(EAnafError);

  // Token store callbacks, as methods of the host's objects. They run on LIBRARY THREADS, one
  // at a time per store operation but concurrently with the host's own threads: the host
  // synchronises access to its data itself (a critical section, a database transaction;
  // TThread.Synchronize would deadlock while the main thread waits in a blocking call).
  // An exception raised in them is caught and reported to the library as a failure.
  //   OnLoad: set TokensJson and return True, or return False when nothing was saved.
  //   OnSave: keep TokensJson as it is (it is secret: encrypt it if you can).
  //   OnClear: delete what was saved.
  //   OnLock / OnUnlock: an exclusive lock across processes, held around each refresh.
  TAnafTokenLoadEvent = function(out TokensJson: string): Boolean of object;
  TAnafTokenSaveEvent = procedure(const TokensJson: string) of object;
  TAnafTokenClearEvent = procedure of object;
  TAnafTokenLockEvent = procedure of object;

  // A token store whose data lives where the host keeps its own (anaf_token_store_*).
  // Keep the object alive until every client made from options it was given to is freed:
  // the library calls its methods until then.
  TAnafTokenStore = class
  private
    FHandle: PAnafTokenStore;
    FOnLoad: TAnafTokenLoadEvent;
    FOnSave: TAnafTokenSaveEvent;
    FOnClear: TAnafTokenClearEvent;
    FOnLock: TAnafTokenLockEvent;
    FOnUnlock: TAnafTokenLockEvent;
  public
    constructor Create(const OnLoad: TAnafTokenLoadEvent; const OnSave: TAnafTokenSaveEvent;
      const OnClear: TAnafTokenClearEvent = nil);
    destructor Destroy; override;
    // Both or neither (anaf_token_store_set_lock).
    procedure SetLock(const OnLock, OnUnlock: TAnafTokenLockEvent);
    // Clients whose stores share this name share one token manager ('' removes it).
    procedure SetSharingKey(const SharingKey: string);
    property Handle: PAnafTokenStore read FHandle;
  end;

  // How a client is made (anaf_options_*): environment, URLs, application, token store,
  // limits. Used by one thread at a time; TAnafClient.Create copies it.
  TAnafOptions = class
  private
    FHandle: PAnafOptions;
  public
    constructor Create;
    destructor Destroy; override;
    // "test" (the default) or "prod".
    procedure SetEnvironment(const Environment: string);
    procedure SetBaseUrl(const BaseUrl: string);
    procedure SetEndpoints(const OAuthUrl, ApiUrl, PublicUrl: string);
    procedure SetApplication(const ClientId, ClientSecret, RedirectUri: string);
    procedure SetTokenFile(const Path: string);
    procedure SetTokenStore(Store: TAnafTokenStore);
    // A raw C callback with its user data; it runs on library threads for as long as any
    // client made from these options lives, so UserData must live as long.
    procedure SetTokenEventCallback(Callback: TAnafTokenEventFn; UserData: Pointer);
    procedure SetRequestsPerMinute(RequestsPerMinute: UInt32);
    procedure SetRetry(MaxAttempts: UInt32; InitialDelayMs, MaxDelayMs: UInt64);
    procedure SetTimeouts(RequestTimeoutMs, ConnectTimeoutMs: UInt64);
    procedure SetUserAgent(const UserAgent: string);
    procedure SetProxy(const ProxyUrl: string);
    procedure AddRootCertificate(const Pem: string);
    procedure SetRefreshMargin(MarginMs: UInt64);
    procedure SetMaxResponseBytes(MaxBytes: UInt64);
    procedure SetStatusPollBudget(Polls: UInt32);
    // The state database (a SQLite file, or postgres://user:password@host/database): the
    // journal of EFacturaSubmit and the ledger of ANAF's daily limits. Opened now.
    procedure SetStateDatabase(const Database: string);
    // The tokens in the state database under Name, shared by every program that opens it.
    procedure SetDatabaseTokens(const Name: string);
    procedure SetResendAfter(ResendAfterMs: UInt64);
    // One daily limit for every counted call (0: ANAF's limits less 5%).
    procedure SetDailyLimit(Limit: UInt32);
    property Handle: PAnafOptions read FHandle;
  end;

  TAnafTextEvent = procedure(const Text: string) of object;

  // How LoginInteractive reaches the user (anaf_login_options_*).
  TAnafLoginOptions = class
  private
    FHandle: PAnafLoginOptions;
    FOnUrl: TAnafTextEvent;
    FOnCertificate: TAnafTextEvent;
  public
    constructor Create;
    destructor Destroy; override;
    procedure SetOpenBrowser(OpenBrowser: Boolean);
    procedure SetTimeout(TimeoutMs: UInt64);
    // Called on a library thread with the authorization URL / the listener's PEM certificate.
    procedure SetOnUrl(const Handler: TAnafTextEvent);
    procedure SetOnCertificate(const Handler: TAnafTextEvent);
    property Handle: PAnafLoginOptions read FHandle;
  end;

  // Every message of an interval, page after page (anaf_message_stream_*).
  TAnafMessageStream = class
  private
    FHandle: PAnafMessageStream;
  public
    constructor CreateFromHandle(Handle: PAnafMessageStream);
    destructor Destroy; override;
    // The next page (JSON as EFacturaListMessagesPage); False after the last.
    function Next(out Page: TAnafResult): Boolean;
    // Where the stream really started (Unix ms).
    function EffectiveStart: Int64;
    // Where its interval ends (Unix ms); 0 before the first page.
    function EffectiveEnd: Int64;
    property Handle: PAnafMessageStream read FHandle;
  end;

  // A client (anaf_client_*). Thread-safe. Every method blocks until ANAF answers and raises
  // an EAnafError subclass on failure; the result JSON is documented on the C function of the
  // same name in anaf.h. Never call these from a library callback (the library refuses).
  TAnafClient = class
  private
    FHandle: PAnafClient;
  public
    constructor Create(Options: TAnafOptions);
    destructor Destroy; override;

    // OAuth (anaf_oauth_*).
    function AuthorizationUrl(const State: string = ''): TAnafResult;
    function ExchangeCode(const Code: string): TAnafResult;
    function CompleteAuthorization(const RedirectedUrl, ExpectedState: string): TAnafResult;
    function LoginInteractive(LoginOptions: TAnafLoginOptions = nil): TAnafResult;
    function Refresh: TAnafResult;
    function Revoke: TAnafResult;
    function TokenStatus: TAnafResult;
    function Tokens: TAnafResult;
    procedure SetTokens(const TokensJson: string);
    // Saves tokens the store refused earlier (the client also retries before its calls).
    procedure SaveTokens;
    procedure ClearTokens;

    // TestOauth (anaf_hello).
    function Hello(const Name: string): TAnafResult;

    // RO e-Factura (anaf_efactura_*). Standard: '' (ubl), 'cn', 'cii', 'rasp';
    // Flags: ANAF_UPLOAD_*; Kind: '' (invoice) or 'credit_note'; Filter: '' (all), 'sent',
    // 'received', 'errors', 'buyer_message'.
    function EFacturaUpload(const Xml: TBytes; const Cif: string; const Standard: string = '';
      Flags: UInt32 = 0): TAnafResult;
    // At most once, through the state database (see anaf_efactura_submit).
    function EFacturaSubmit(const Xml: TBytes; const Cif: string; const Standard: string = '';
      Flags: UInt32 = 0): TAnafResult;
    function EFacturaResumeSubmissions: TAnafResult;
    // Cif, State: '' for all; Limit 0: 1000.
    function EFacturaSubmissions(const Cif: string = ''; const State: string = '';
      Limit: UInt32 = 0): TAnafResult;
    // Today's use of ANAF's daily limits (anaf_quota_usage).
    function QuotaUsage: TAnafResult;
    function EFacturaUploadAndWait(const Xml: TBytes; const Cif: string;
      const Standard: string = ''; Flags: UInt32 = 0; TimeoutMs: UInt64 = 0): TAnafResult;
    // The same with every polling setting; -1 keeps a default (600 s, 2 s, 60 s, the budget).
    function EFacturaUploadAndWaitPolling(const Xml: TBytes; const Cif: string;
      const Standard: string; Flags: UInt32; TimeoutMs, FirstPollMs, MaxIntervalMs,
      MaxPolls: Int64): TAnafResult;
    function EFacturaStatus(UploadId: UInt64): TAnafResult;
    function EFacturaDownload(DownloadId: UInt64): TAnafResult;
    class function EFacturaOpenArchive(const Zip: TBytes): TAnafResult;
    function EFacturaListMessages(const Cif: string; Days: UInt32;
      const Filter: string = ''): TAnafResult;
    function EFacturaListMessagesPage(const Cif: string; StartUnixMs, EndUnixMs: Int64;
      Page: UInt32; const Filter: string = ''): TAnafResult;
    // Archives every message ANAF keeps for Cif (SinceUnixMs 0: 60 days back) into Folder,
    // each downloaded once: CIF/KIND/YYYY-MM/YYYY-MM-DD_PARTNER_ID/ with ANAF's ZIP, the
    // invoice, the signature, message.json (and the PDF with Pdf). Run it again to go on after
    // a stop. OnProgress gets the counts as JSON, on a library thread, while it runs.
    function EFacturaSync(const Cif, Folder: string; const Filter: string = '';
      SinceUnixMs: Int64 = 0; Pdf: Boolean = False; OnProgress: TAnafTextEvent = nil): TAnafResult;
    // A stream over the messages between two times (EndUnixMs 0: now). Free it.
    function EFacturaMessages(const Cif: string; StartUnixMs: Int64; EndUnixMs: Int64 = 0;
      const Filter: string = ''): TAnafMessageStream;
    function EFacturaValidate(const Xml: TBytes; const Kind: string = ''): TAnafResult;
    function EFacturaToPdf(const Xml: TBytes; const Kind: string = '';
      Validate: Boolean = False): TAnafResult;
    function EFacturaVerifySignature(const InvoiceXml, SignatureXml: TBytes): TAnafResult;

    // RO e-Transport (anaf_etransport_*). Version: 0 or 2 (schema v2), 1.
    function ETransportUpload(const Xml: TBytes; const Cif: string;
      Version: UInt32 = 0): TAnafResult;
    function ETransportStatus(UploadId: UInt64): TAnafResult;
    function ETransportList(const Cif: string; Days: UInt32): TAnafResult;
    // Each of DeclarantCif, Uit, Reference: '' for not narrowed.
    function ETransportInfo(const OperatorCif: string; const DeclarantCif: string = '';
      const Uit: string = ''; const Reference: string = ''): TAnafResult;

    // Public registries (anaf_public_*), no login. Date: 'YYYY-MM-DD' or '' (today).
    function LookupTaxpayers(const Cifs: string; const Date: string = ''): TAnafResult;
    function LookupEFacturaRegister(const Cifs: string; const Date: string = ''): TAnafResult;

    property Handle: PAnafClient read FHandle;
  end;

{$IFNDEF ANAF_NO_SANDBOX}
  // The embedded sandbox (anaf_sandbox_*): ANAF's services on a loopback port, for tests.
  // The JSON arguments and answers are documented on the C functions.
  TAnafSandbox = class
  private
    FHandle: PAnafSandbox;
  public
    // OptionsJson: '' (ANAF's timing) or e.g. '{"instant": true}'.
    constructor Start(const OptionsJson: string = '');
    // Stops the sandbox.
    destructor Destroy; override;
    function BaseUrl: string;
    function Info: string;
    // Points options at the sandbox: its base URL and its default application.
    procedure Configure(Options: TAnafOptions);
    function RegisterApp(const SpecJson: string): string;
    function AddIdentity(const SpecJson: string): string;
    procedure SetCompany(const SpecJson: string);
    // An authorization code without a browser ('': the defaults).
    function Authorize(const RequestJson: string = ''): string;
    procedure InjectFault(const FaultJson: string);
    procedure ClearFaults;
    procedure AdvanceClock(Milliseconds: UInt64);
    function Uploads(const Cif: string = ''): string;
    function Requests: string;
    function SeedReceivedInvoices(const RequestJson: string): string;
    class function SampleInvoice(const Number, SellerCif, BuyerCif: string): string;
    class function SampleTransport(const DeclarantCif, Reference: string): string;
    property Handle: PAnafSandbox read FHandle;
  end;
{$ENDIF ANAF_NO_SANDBOX}

  // One log line, on library threads (possibly several at once).
  TAnafLogEvent = procedure(Level: Integer; const Target, Text: string) of object;

// The library's version ("0.1.0").
function AnafVersion: string;
// Checks a CIF with its check digit; returns it normalised (digits only).
function AnafCifValidate(const Text: string): string;
// Threads for the library's I/O (default 2); before the first I/O call.
procedure AnafRuntimeConfigure(WorkerThreads: UInt32);
// Stops the library's threads (before unloading the DLL).
procedure AnafRuntimeShutdown(TimeoutMs: UInt64);
// Sends the library's logs at MaxLevel (ANAF_LOG_*) and more severe to Handler (nil or
// ANAF_LOG_OFF: stop). Process-wide; set it once, early.
procedure AnafSetLogHandler(MaxLevel: Integer; const Handler: TAnafLogEvent);

// Delphi string -> UTF-8 bytes (for the TBytes arguments, e.g. an XML held in a string).
function AnafUtf8Bytes(const S: string): TBytes;
// UTF-8 bytes -> Delphi string.
function AnafBytesToString(const Bytes: TBytes): string;
// A NUL-terminated UTF-8 C string -> Delphi string ('' for nil). Does not free it.
function AnafFromUtf8(P: PAnsiChar): string;
// The exception class of a status (EAnafError for an unknown number).
function AnafErrorClassOf(Status: TAnafStatus): EAnafErrorClass;
// For code that calls the C functions directly: raises the EAnafError subclass of Status
// with the details of Error, and frees Error. Does nothing when Status = ANAF_OK.
procedure AnafCheck(Status: TAnafStatus; Error: PAnafError);

implementation

// ---------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------

// Delphi and Free Pascal unmask some floating-point exceptions (invalid operation, division
// by zero, overflow); C and Rust code expects them masked. A blocking call runs part of its
// work on the caller's thread, so the mask is set for the call and restored afterwards.
const
  AllFpuExceptions: TFPUExceptionMask =
    [exInvalidOp, exDenormalized, exZeroDivide, exOverflow, exUnderflow, exPrecision];

function EnterLibrary: TFPUExceptionMask;
begin
  Result := SetExceptionMask(AllFpuExceptions);
end;

procedure LeaveLibrary(const Saved: TFPUExceptionMask);
begin
  SetExceptionMask(Saved);
end;

// UTF-8 in: a Delphi string as a UTF-8 string whose PAnsiChar lives as long as the variable.
function Utf8(const S: string): UTF8String;
begin
  Result := UTF8Encode(S);
end;

// '' as NULL, for the optional string arguments.
function OptionalPChar(const S: UTF8String): PAnsiChar;
begin
  if Length(S) = 0 then
    Result := nil
  else
    Result := PAnsiChar(S);
end;

function BytesPtr(const B: TBytes): PByte;
begin
  if Length(B) = 0 then
    Result := nil
  else
    Result := @B[0];
end;

function AnafFromUtf8(P: PAnsiChar): string;
var
  N: Integer;
  U: UTF8String;
begin
  if P = nil then
    Exit('');
  N := 0;
  while P[N] <> #0 do
    Inc(N);
  SetString(U, P, N);
  {$IFDEF FPC}
  Result := UTF8Decode(U);
  {$ELSE}
  Result := UTF8ToString(U);
  {$ENDIF}
end;

function AnafUtf8Bytes(const S: string): TBytes;
var
  U: UTF8String;
begin
  U := UTF8Encode(S);
  Result := nil;
  SetLength(Result, Length(U));
  if Length(U) > 0 then
    Move(PAnsiChar(U)^, Result[0], Length(U));
end;

function AnafBytesToString(const Bytes: TBytes): string;
var
  U: UTF8String;
begin
  SetLength(U, Length(Bytes));
  if Length(Bytes) > 0 then
    Move(Bytes[0], PAnsiChar(U)^, Length(Bytes));
  {$IFDEF FPC}
  Result := UTF8Decode(U);
  {$ELSE}
  Result := UTF8ToString(U);
  {$ENDIF}
end;

// A `char **` out-param's string: copied, then freed with anaf_string_free.
function TakeString(P: PAnsiChar): string;
begin
  try
    Result := AnafFromUtf8(P);
  finally
    anaf_string_free(P);
  end;
end;

// An anaf_result: JSON and bytes copied, then freed with anaf_result_free.
function TakeResult(R: PAnafResult): TAnafResult;
var
  P: PByte;
  Len: NativeUInt;
begin
  Result.IsNull := R = nil;
  Result.Bytes := nil;
  try
    Result.Json := AnafFromUtf8(anaf_result_json(R));
    Len := 0;
    P := anaf_result_bytes(R, @Len);
    if (P <> nil) and (Len > 0) then
    begin
      SetLength(Result.Bytes, Len);
      Move(P^, Result.Bytes[0], Len);
    end;
  finally
    anaf_result_free(R);
  end;
end;

// ---------------------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------------------

function AnafErrorClassOf(Status: TAnafStatus): EAnafErrorClass;
begin
  case Status of
    ANAF_UNAUTHORIZED: Result := EAnafUnauthorized;
    ANAF_FORBIDDEN: Result := EAnafForbidden;
    ANAF_RATE_LIMITED: Result := EAnafRateLimited;
    ANAF_DAILY_LIMIT: Result := EAnafDailyLimit;
    ANAF_NO_CIF_RIGHT: Result := EAnafNoCifRight;
    ANAF_NO_CIF_RIGHTS: Result := EAnafNoCifRights;
    ANAF_NOT_FOUND: Result := EAnafNotFound;
    ANAF_DOWNLOAD_EXPIRED: Result := EAnafDownloadExpired;
    ANAF_DUPLICATE_INVOICE: Result := EAnafDuplicateInvoice;
    ANAF_WAF_REJECTED: Result := EAnafWafRejected;
    ANAF_INVALID_INPUT: Result := EAnafInvalidInput;
    ANAF_OAUTH: Result := EAnafOAuth;
    ANAF_TIMEOUT: Result := EAnafTimeout;
    ANAF_TRANSPORT: Result := EAnafTransport;
    ANAF_UNEXPECTED_RESPONSE: Result := EAnafUnexpectedResponse;
    ANAF_QUOTA_EXHAUSTED: Result := EAnafQuotaExhausted;
    ANAF_CANCELLED: Result := EAnafCancelled;
    ANAF_INTERNAL: Result := EAnafInternal;
  else
    Result := EAnafError;
  end;
end;

constructor EAnafError.CreateFromError(AStatus: TAnafStatus; Error: PAnafError);
var
  Msg: string;
begin
  FStatus := AStatus;
  FRetryAfterMs := -1;
  FLimit := -1;
  if Error <> nil then
  begin
    FCode := AnafFromUtf8(anaf_error_code(Error));
    FAnafMessage := AnafFromUtf8(anaf_error_anaf_message(Error));
    FField := AnafFromUtf8(anaf_error_field(Error));
    FHint := AnafFromUtf8(anaf_error_hint(Error));
    FHttpStatus := anaf_error_http_status(Error);
    FRetryAfterMs := anaf_error_retry_after_ms(Error);
    FLimit := anaf_error_limit(Error);
    FUploadOutcomeUnknown := anaf_error_upload_outcome_unknown(Error) <> 0;
    FPreviousUploadId := anaf_error_previous_upload_id(Error);
    FUploadId := anaf_error_upload_id(Error);
    FJson := AnafFromUtf8(anaf_error_json(Error));
    Msg := AnafFromUtf8(anaf_error_message(Error));
  end
  else
    FJson := '{}';
  if Msg = '' then
    Msg := 'anaf: status ' + string(IntToStr(FStatus));
  // Free Pascal's Exception.Message is an AnsiString in the system code page (exact for a
  // UTF-8 locale with the cwstring unit); AnafMessage keeps ANAF's text exactly either way.
  {$IFDEF FPC}
  inherited Create(AnsiString(Msg));
  {$ELSE}
  inherited Create(Msg);
  {$ENDIF}
end;

constructor EAnafError.CreateStatus(AStatus: TAnafStatus; const Msg: string);
begin
  {$IFDEF FPC}
  inherited Create(AnsiString(Msg));
  {$ELSE}
  inherited Create(Msg);
  {$ENDIF}
  FStatus := AStatus;
  FRetryAfterMs := -1;
  FLimit := -1;
  FJson := '{}';
end;

procedure AnafCheck(Status: TAnafStatus; Error: PAnafError);
var
  E: EAnafError;
begin
  if Status = ANAF_OK then
  begin
    anaf_error_free(Error); // NULL on success; freed all the same should a caller pass one
    Exit;
  end;
  E := nil;
  try
    E := AnafErrorClassOf(Status).CreateFromError(Status, Error);
  finally
    anaf_error_free(Error);
  end;
  raise E;
end;

// The end of every blocking call: FPU mask restored, then the result taken or the error raised.
function Finish(const Saved: TFPUExceptionMask; Status: TAnafStatus; R: PAnafResult;
  E: PAnafError): TAnafResult;
begin
  LeaveLibrary(Saved);
  if Status <> ANAF_OK then
  begin
    anaf_result_free(R);
    AnafCheck(Status, E);
  end;
  Result := TakeResult(R);
end;

// The end of a call without a result.
procedure FinishStatus(const Saved: TFPUExceptionMask; Status: TAnafStatus; E: PAnafError);
begin
  LeaveLibrary(Saved);
  AnafCheck(Status, E);
end;

// The end of a call with a `char **` out-param.
function FinishString(const Saved: TFPUExceptionMask; Status: TAnafStatus; P: PAnsiChar;
  E: PAnafError): string;
begin
  LeaveLibrary(Saved);
  if Status <> ANAF_OK then
  begin
    anaf_string_free(P);
    AnafCheck(Status, E);
  end;
  Result := TakeString(P);
end;

// ---------------------------------------------------------------------------------------
// Globals.
// ---------------------------------------------------------------------------------------

function AnafVersion: string;
begin
  Result := AnafFromUtf8(anaf_version);
end;

function AnafCifValidate(const Text: string): string;
var
  U: UTF8String;
  P: PAnsiChar;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(Text);
  P := nil;
  E := nil;
  F := EnterLibrary;
  Result := FinishString(F, anaf_cif_validate(PAnsiChar(U), @P, @E), P, E);
end;

procedure AnafRuntimeConfigure(WorkerThreads: UInt32);
var
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  E := nil;
  F := EnterLibrary;
  FinishStatus(F, anaf_runtime_configure(WorkerThreads, @E), E);
end;

procedure AnafRuntimeShutdown(TimeoutMs: UInt64);
var
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  E := nil;
  F := EnterLibrary;
  FinishStatus(F, anaf_runtime_shutdown(TimeoutMs, @E), E);
end;

var
  // Process-wide, like the library's log callback.
  GLogHandler: TAnafLogEvent;

procedure LogTrampoline(user_data: Pointer; level: Int32; target: PAnsiChar;
  log_message: PAnsiChar); cdecl;
var
  Handler: TAnafLogEvent;
begin
  try
    Handler := GLogHandler;
    if Assigned(Handler) then
      Handler(level, AnafFromUtf8(target), AnafFromUtf8(log_message));
  except
    // A callback must not unwind into the library.
  end;
end;

procedure AnafSetLogHandler(MaxLevel: Integer; const Handler: TAnafLogEvent);
var
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  E := nil;
  GLogHandler := Handler;
  F := EnterLibrary;
  if Assigned(Handler) then
    FinishStatus(F, anaf_set_log_callback(MaxLevel, LogTrampoline, nil, @E), E)
  else
    FinishStatus(F, anaf_set_log_callback(ANAF_LOG_OFF, nil, nil, @E), E);
end;

// ---------------------------------------------------------------------------------------
// TAnafTokenStore.
// ---------------------------------------------------------------------------------------

// The trampolines: cdecl functions the library calls on its threads, with the store object
// as user_data. No exception leaves them: a failure is returned as a non-zero status.

function TokenLoadTrampoline(user_data: Pointer; sink: PAnafTokenSink): Int32; cdecl;
var
  Json: string;
  U: UTF8String;
begin
  Result := 1;
  try
    if TAnafTokenStore(user_data).FOnLoad(Json) then
    begin
      U := Utf8(Json);
      if anaf_token_sink_set(sink, PAnsiChar(U), nil) <> ANAF_OK then
        Exit;
    end;
    Result := 0;
  except
    Result := 1;
  end;
end;

function TokenSaveTrampoline(user_data: Pointer; tokens_json: PAnsiChar): Int32; cdecl;
begin
  try
    TAnafTokenStore(user_data).FOnSave(AnafFromUtf8(tokens_json));
    Result := 0;
  except
    Result := 1;
  end;
end;

function TokenClearTrampoline(user_data: Pointer): Int32; cdecl;
begin
  try
    TAnafTokenStore(user_data).FOnClear();
    Result := 0;
  except
    Result := 1;
  end;
end;

function TokenLockTrampoline(user_data: Pointer): Int32; cdecl;
begin
  try
    TAnafTokenStore(user_data).FOnLock();
    Result := 0;
  except
    Result := 1;
  end;
end;

procedure TokenUnlockTrampoline(user_data: Pointer); cdecl;
begin
  try
    TAnafTokenStore(user_data).FOnUnlock();
  except
    // A callback must not unwind into the library.
  end;
end;

constructor TAnafTokenStore.Create(const OnLoad: TAnafTokenLoadEvent;
  const OnSave: TAnafTokenSaveEvent; const OnClear: TAnafTokenClearEvent);
var
  E: PAnafError;
begin
  inherited Create;
  if not Assigned(OnLoad) or not Assigned(OnSave) then
    raise EAnafInvalidInput.CreateStatus(ANAF_INVALID_INPUT,
      'TAnafTokenStore: OnLoad and OnSave are required');
  FOnLoad := OnLoad;
  FOnSave := OnSave;
  FOnClear := OnClear;
  E := nil;
  AnafCheck(anaf_token_store_new(TokenLoadTrampoline, TokenSaveTrampoline, nil, Self, @FHandle,
    @E), E);
  if Assigned(OnClear) then
  begin
    E := nil;
    AnafCheck(anaf_token_store_set_clear(FHandle, TokenClearTrampoline, @E), E);
  end;
end;

destructor TAnafTokenStore.Destroy;
begin
  anaf_token_store_free(FHandle);
  inherited;
end;

procedure TAnafTokenStore.SetLock(const OnLock, OnUnlock: TAnafTokenLockEvent);
var
  E: PAnafError;
begin
  E := nil;
  if Assigned(OnLock) and Assigned(OnUnlock) then
  begin
    FOnLock := OnLock;
    FOnUnlock := OnUnlock;
    AnafCheck(anaf_token_store_set_lock(FHandle, TokenLockTrampoline, TokenUnlockTrampoline,
      @E), E);
  end
  else if not Assigned(OnLock) and not Assigned(OnUnlock) then
    AnafCheck(anaf_token_store_set_lock(FHandle, nil, nil, @E), E)
  else
    raise EAnafInvalidInput.CreateStatus(ANAF_INVALID_INPUT,
      'TAnafTokenStore.SetLock: both handlers or neither');
end;

procedure TAnafTokenStore.SetSharingKey(const SharingKey: string);
var
  U: UTF8String;
  E: PAnafError;
begin
  U := Utf8(SharingKey);
  E := nil;
  AnafCheck(anaf_token_store_set_sharing_key(FHandle, OptionalPChar(U), @E), E);
end;

// ---------------------------------------------------------------------------------------
// TAnafOptions.
// ---------------------------------------------------------------------------------------

constructor TAnafOptions.Create;
begin
  inherited Create;
  FHandle := anaf_options_new;
end;

destructor TAnafOptions.Destroy;
begin
  anaf_options_free(FHandle);
  inherited;
end;

procedure TAnafOptions.SetEnvironment(const Environment: string);
var
  U: UTF8String;
  E: PAnafError;
begin
  U := Utf8(Environment);
  E := nil;
  AnafCheck(anaf_options_set_environment(FHandle, PAnsiChar(U), @E), E);
end;

procedure TAnafOptions.SetBaseUrl(const BaseUrl: string);
var
  U: UTF8String;
  E: PAnafError;
begin
  U := Utf8(BaseUrl);
  E := nil;
  AnafCheck(anaf_options_set_base_url(FHandle, PAnsiChar(U), @E), E);
end;

procedure TAnafOptions.SetEndpoints(const OAuthUrl, ApiUrl, PublicUrl: string);
var
  U1, U2, U3: UTF8String;
  E: PAnafError;
begin
  U1 := Utf8(OAuthUrl);
  U2 := Utf8(ApiUrl);
  U3 := Utf8(PublicUrl);
  E := nil;
  AnafCheck(anaf_options_set_endpoints(FHandle, PAnsiChar(U1), PAnsiChar(U2), PAnsiChar(U3),
    @E), E);
end;

procedure TAnafOptions.SetApplication(const ClientId, ClientSecret, RedirectUri: string);
var
  U1, U2, U3: UTF8String;
  E: PAnafError;
begin
  U1 := Utf8(ClientId);
  U2 := Utf8(ClientSecret);
  U3 := Utf8(RedirectUri);
  E := nil;
  AnafCheck(anaf_options_set_application(FHandle, PAnsiChar(U1), PAnsiChar(U2),
    PAnsiChar(U3), @E), E);
end;

procedure TAnafOptions.SetTokenFile(const Path: string);
var
  U: UTF8String;
  E: PAnafError;
begin
  U := Utf8(Path);
  E := nil;
  AnafCheck(anaf_options_set_token_file(FHandle, PAnsiChar(U), @E), E);
end;

procedure TAnafOptions.SetTokenStore(Store: TAnafTokenStore);
var
  E: PAnafError;
  H: PAnafTokenStore;
begin
  E := nil;
  H := nil;
  if Store <> nil then
    H := Store.Handle;
  AnafCheck(anaf_options_set_token_store(FHandle, H, @E), E);
end;

procedure TAnafOptions.SetTokenEventCallback(Callback: TAnafTokenEventFn; UserData: Pointer);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_options_set_token_event_callback(FHandle, Callback, nil, UserData, @E), E);
end;

procedure TAnafOptions.SetRequestsPerMinute(RequestsPerMinute: UInt32);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_options_set_requests_per_minute(FHandle, RequestsPerMinute, @E), E);
end;

procedure TAnafOptions.SetRetry(MaxAttempts: UInt32; InitialDelayMs, MaxDelayMs: UInt64);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_options_set_retry(FHandle, MaxAttempts, InitialDelayMs, MaxDelayMs, @E), E);
end;

procedure TAnafOptions.SetTimeouts(RequestTimeoutMs, ConnectTimeoutMs: UInt64);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_options_set_timeouts(FHandle, RequestTimeoutMs, ConnectTimeoutMs, @E), E);
end;

procedure TAnafOptions.SetUserAgent(const UserAgent: string);
var
  U: UTF8String;
  E: PAnafError;
begin
  U := Utf8(UserAgent);
  E := nil;
  AnafCheck(anaf_options_set_user_agent(FHandle, PAnsiChar(U), @E), E);
end;

procedure TAnafOptions.SetProxy(const ProxyUrl: string);
var
  U: UTF8String;
  E: PAnafError;
begin
  U := Utf8(ProxyUrl);
  E := nil;
  AnafCheck(anaf_options_set_proxy(FHandle, PAnsiChar(U), @E), E);
end;

procedure TAnafOptions.AddRootCertificate(const Pem: string);
var
  B: TBytes;
  E: PAnafError;
begin
  B := AnafUtf8Bytes(Pem);
  E := nil;
  AnafCheck(anaf_options_add_root_certificate(FHandle, BytesPtr(B), Length(B), @E), E);
end;

procedure TAnafOptions.SetRefreshMargin(MarginMs: UInt64);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_options_set_refresh_margin(FHandle, MarginMs, @E), E);
end;

procedure TAnafOptions.SetMaxResponseBytes(MaxBytes: UInt64);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_options_set_max_response_bytes(FHandle, MaxBytes, @E), E);
end;

procedure TAnafOptions.SetStatusPollBudget(Polls: UInt32);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_options_set_status_poll_budget(FHandle, Polls, @E), E);
end;

procedure TAnafOptions.SetStateDatabase(const Database: string);
var
  U: UTF8String;
  E: PAnafError;
begin
  U := Utf8(Database);
  E := nil;
  AnafCheck(anaf_options_set_state_database(FHandle, PAnsiChar(U), @E), E);
end;

procedure TAnafOptions.SetDatabaseTokens(const Name: string);
var
  U: UTF8String;
  E: PAnafError;
begin
  U := Utf8(Name);
  E := nil;
  AnafCheck(anaf_options_set_database_tokens(FHandle, PAnsiChar(U), @E), E);
end;

procedure TAnafOptions.SetResendAfter(ResendAfterMs: UInt64);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_options_set_resend_after(FHandle, ResendAfterMs, @E), E);
end;

procedure TAnafOptions.SetDailyLimit(Limit: UInt32);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_options_set_daily_limit(FHandle, Limit, @E), E);
end;

// ---------------------------------------------------------------------------------------
// TAnafLoginOptions.
// ---------------------------------------------------------------------------------------

procedure UrlTrampoline(user_data: Pointer; text: PAnsiChar); cdecl;
begin
  try
    if Assigned(TAnafLoginOptions(user_data).FOnUrl) then
      TAnafLoginOptions(user_data).FOnUrl(AnafFromUtf8(text));
  except
    // A callback must not unwind into the library.
  end;
end;

procedure CertificateTrampoline(user_data: Pointer; text: PAnsiChar); cdecl;
begin
  try
    if Assigned(TAnafLoginOptions(user_data).FOnCertificate) then
      TAnafLoginOptions(user_data).FOnCertificate(AnafFromUtf8(text));
  except
    // A callback must not unwind into the library.
  end;
end;

constructor TAnafLoginOptions.Create;
begin
  inherited Create;
  FHandle := anaf_login_options_new;
end;

destructor TAnafLoginOptions.Destroy;
begin
  anaf_login_options_free(FHandle);
  inherited;
end;

procedure TAnafLoginOptions.SetOpenBrowser(OpenBrowser: Boolean);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_login_options_set_open_browser(FHandle, Ord(OpenBrowser), @E), E);
end;

procedure TAnafLoginOptions.SetTimeout(TimeoutMs: UInt64);
var
  E: PAnafError;
begin
  E := nil;
  AnafCheck(anaf_login_options_set_timeout(FHandle, TimeoutMs, @E), E);
end;

procedure TAnafLoginOptions.SetOnUrl(const Handler: TAnafTextEvent);
var
  E: PAnafError;
begin
  E := nil;
  FOnUrl := Handler;
  if Assigned(Handler) then
    AnafCheck(anaf_login_options_set_url_callback(FHandle, UrlTrampoline, Self, @E), E)
  else
    AnafCheck(anaf_login_options_set_url_callback(FHandle, nil, nil, @E), E);
end;

procedure TAnafLoginOptions.SetOnCertificate(const Handler: TAnafTextEvent);
var
  E: PAnafError;
begin
  E := nil;
  FOnCertificate := Handler;
  if Assigned(Handler) then
    AnafCheck(anaf_login_options_set_certificate_callback(FHandle, CertificateTrampoline, Self,
      @E), E)
  else
    AnafCheck(anaf_login_options_set_certificate_callback(FHandle, nil, nil, @E), E);
end;

// ---------------------------------------------------------------------------------------
// TAnafMessageStream.
// ---------------------------------------------------------------------------------------

constructor TAnafMessageStream.CreateFromHandle(Handle: PAnafMessageStream);
begin
  inherited Create;
  FHandle := Handle;
end;

destructor TAnafMessageStream.Destroy;
begin
  anaf_message_stream_free(FHandle);
  inherited;
end;

function TAnafMessageStream.Next(out Page: TAnafResult): Boolean;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Page := Finish(F, anaf_message_stream_next(FHandle, @R, @E), R, E);
  Result := not Page.IsNull;
end;

function TAnafMessageStream.EffectiveStart: Int64;
begin
  Result := anaf_message_stream_effective_start(FHandle);
end;

function TAnafMessageStream.EffectiveEnd: Int64;
begin
  Result := anaf_message_stream_effective_end(FHandle);
end;

// ---------------------------------------------------------------------------------------
// TAnafClient.
// ---------------------------------------------------------------------------------------

constructor TAnafClient.Create(Options: TAnafOptions);
var
  E: PAnafError;
  F: TFPUExceptionMask;
  H: PAnafOptions;
begin
  inherited Create;
  H := nil;
  if Options <> nil then
    H := Options.Handle;
  E := nil;
  F := EnterLibrary;
  FinishStatus(F, anaf_client_new(H, @FHandle, @E), E);
end;

destructor TAnafClient.Destroy;
begin
  anaf_client_free(FHandle);
  inherited;
end;

function TAnafClient.AuthorizationUrl(const State: string): TAnafResult;
var
  U: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(State);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_oauth_authorization_url(FHandle, OptionalPChar(U), @R, @E), R, E);
end;

function TAnafClient.ExchangeCode(const Code: string): TAnafResult;
var
  U: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(Code);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_oauth_exchange_code(FHandle, PAnsiChar(U), @R, @E), R, E);
end;

function TAnafClient.CompleteAuthorization(const RedirectedUrl,
  ExpectedState: string): TAnafResult;
var
  U1, U2: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U1 := Utf8(RedirectedUrl);
  U2 := Utf8(ExpectedState);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_oauth_complete_authorization(FHandle, PAnsiChar(U1), PAnsiChar(U2),
    @R, @E), R, E);
end;

function TAnafClient.LoginInteractive(LoginOptions: TAnafLoginOptions): TAnafResult;
var
  H: PAnafLoginOptions;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  H := nil;
  if LoginOptions <> nil then
    H := LoginOptions.Handle;
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_oauth_login_interactive(FHandle, H, @R, @E), R, E);
end;

function TAnafClient.Refresh: TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_oauth_refresh(FHandle, @R, @E), R, E);
end;

function TAnafClient.Revoke: TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_oauth_revoke(FHandle, @R, @E), R, E);
end;

function TAnafClient.TokenStatus: TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_oauth_token_status(FHandle, @R, @E), R, E);
end;

function TAnafClient.Tokens: TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_oauth_tokens(FHandle, @R, @E), R, E);
end;

procedure TAnafClient.SetTokens(const TokensJson: string);
var
  U: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(TokensJson);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Finish(F, anaf_oauth_set_tokens(FHandle, PAnsiChar(U), @R, @E), R, E);
end;

procedure TAnafClient.SaveTokens;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Finish(F, anaf_oauth_save_tokens(FHandle, @R, @E), R, E);
end;

procedure TAnafClient.ClearTokens;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Finish(F, anaf_oauth_clear_tokens(FHandle, @R, @E), R, E);
end;

function TAnafClient.Hello(const Name: string): TAnafResult;
var
  U: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(Name);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_hello(FHandle, PAnsiChar(U), @R, @E), R, E);
end;

function TAnafClient.EFacturaUpload(const Xml: TBytes; const Cif: string;
  const Standard: string; Flags: UInt32): TAnafResult;
var
  UCif, UStandard: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  UStandard := Utf8(Standard);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_upload(FHandle, BytesPtr(Xml), Length(Xml), PAnsiChar(UCif),
    OptionalPChar(UStandard), Flags, @R, @E), R, E);
end;

function TAnafClient.EFacturaSubmit(const Xml: TBytes; const Cif: string;
  const Standard: string; Flags: UInt32): TAnafResult;
var
  UCif, UStandard: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  UStandard := Utf8(Standard);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_submit(FHandle, BytesPtr(Xml), Length(Xml), PAnsiChar(UCif),
    OptionalPChar(UStandard), Flags, @R, @E), R, E);
end;

function TAnafClient.EFacturaResumeSubmissions: TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_resume_submissions(FHandle, @R, @E), R, E);
end;

function TAnafClient.EFacturaSubmissions(const Cif, State: string; Limit: UInt32): TAnafResult;
var
  UCif, UState: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  UState := Utf8(State);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_submissions(FHandle, OptionalPChar(UCif), OptionalPChar(UState),
    Limit, @R, @E), R, E);
end;

function TAnafClient.QuotaUsage: TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_quota_usage(FHandle, @R, @E), R, E);
end;

function TAnafClient.EFacturaUploadAndWaitPolling(const Xml: TBytes; const Cif: string;
  const Standard: string; Flags: UInt32; TimeoutMs, FirstPollMs, MaxIntervalMs,
  MaxPolls: Int64): TAnafResult;
var
  UCif, UStandard: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  UStandard := Utf8(Standard);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_upload_and_wait_polling(FHandle, BytesPtr(Xml), Length(Xml),
    PAnsiChar(UCif), OptionalPChar(UStandard), Flags, TimeoutMs, FirstPollMs, MaxIntervalMs,
    MaxPolls, @R, @E), R, E);
end;

function TAnafClient.EFacturaUploadAndWait(const Xml: TBytes; const Cif: string;
  const Standard: string; Flags: UInt32; TimeoutMs: UInt64): TAnafResult;
var
  UCif, UStandard: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  UStandard := Utf8(Standard);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_upload_and_wait(FHandle, BytesPtr(Xml), Length(Xml),
    PAnsiChar(UCif), OptionalPChar(UStandard), Flags, TimeoutMs, @R, @E), R, E);
end;

function TAnafClient.EFacturaStatus(UploadId: UInt64): TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_status(FHandle, UploadId, @R, @E), R, E);
end;

function TAnafClient.EFacturaDownload(DownloadId: UInt64): TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_download(FHandle, DownloadId, @R, @E), R, E);
end;

class function TAnafClient.EFacturaOpenArchive(const Zip: TBytes): TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_open_archive(BytesPtr(Zip), Length(Zip), @R, @E), R, E);
end;

function TAnafClient.EFacturaListMessages(const Cif: string; Days: UInt32;
  const Filter: string): TAnafResult;
var
  UCif, UFilter: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  UFilter := Utf8(Filter);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_list_messages(FHandle, PAnsiChar(UCif), Days,
    OptionalPChar(UFilter), @R, @E), R, E);
end;

// user_data: the address of a TMethod holding the caller's TAnafTextEvent (a plain @ of a
// procedural variable would give its code address, not the variable's).
procedure ProgressTrampoline(user_data: Pointer; text: PAnsiChar); cdecl;
begin
  try
    TAnafTextEvent(PMethod(user_data)^)(AnafFromUtf8(text));
  except
    // A callback must not unwind into the library.
  end;
end;

function TAnafClient.EFacturaSync(const Cif, Folder: string; const Filter: string;
  SinceUnixMs: Int64; Pdf: Boolean; OnProgress: TAnafTextEvent): TAnafResult;
var
  UCif, UFolder, UFilter: UTF8String;
  Hook: TMethod;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  UFolder := Utf8(Folder);
  UFilter := Utf8(Filter);
  // The library calls the hook only while the sync runs: a local is alive long enough.
  Hook := TMethod(OnProgress);
  R := nil;
  E := nil;
  F := EnterLibrary;
  if Assigned(OnProgress) then
    Result := Finish(F, anaf_efactura_sync(FHandle, PAnsiChar(UCif), PAnsiChar(UFolder),
      OptionalPChar(UFilter), SinceUnixMs, Ord(Pdf), ProgressTrampoline, @Hook, @R, @E), R, E)
  else
    Result := Finish(F, anaf_efactura_sync(FHandle, PAnsiChar(UCif), PAnsiChar(UFolder),
      OptionalPChar(UFilter), SinceUnixMs, Ord(Pdf), nil, nil, @R, @E), R, E);
end;

function TAnafClient.EFacturaListMessagesPage(const Cif: string; StartUnixMs, EndUnixMs: Int64;
  Page: UInt32; const Filter: string): TAnafResult;
var
  UCif, UFilter: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  UFilter := Utf8(Filter);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_list_messages_page(FHandle, PAnsiChar(UCif), StartUnixMs,
    EndUnixMs, Page, OptionalPChar(UFilter), @R, @E), R, E);
end;

function TAnafClient.EFacturaMessages(const Cif: string; StartUnixMs: Int64; EndUnixMs: Int64;
  const Filter: string): TAnafMessageStream;
var
  UCif, UFilter: UTF8String;
  S: PAnafMessageStream;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  UFilter := Utf8(Filter);
  S := nil;
  E := nil;
  F := EnterLibrary;
  FinishStatus(F, anaf_efactura_messages(FHandle, PAnsiChar(UCif), StartUnixMs, EndUnixMs,
    OptionalPChar(UFilter), @S, @E), E);
  Result := TAnafMessageStream.CreateFromHandle(S);
end;

function TAnafClient.EFacturaValidate(const Xml: TBytes; const Kind: string): TAnafResult;
var
  UKind: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UKind := Utf8(Kind);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_validate(FHandle, BytesPtr(Xml), Length(Xml),
    OptionalPChar(UKind), @R, @E), R, E);
end;

function TAnafClient.EFacturaToPdf(const Xml: TBytes; const Kind: string;
  Validate: Boolean): TAnafResult;
var
  UKind: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UKind := Utf8(Kind);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_to_pdf(FHandle, BytesPtr(Xml), Length(Xml),
    OptionalPChar(UKind), Ord(Validate), @R, @E), R, E);
end;

function TAnafClient.EFacturaVerifySignature(const InvoiceXml,
  SignatureXml: TBytes): TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_efactura_verify_signature(FHandle, BytesPtr(InvoiceXml),
    Length(InvoiceXml), BytesPtr(SignatureXml), Length(SignatureXml), @R, @E), R, E);
end;

function TAnafClient.ETransportUpload(const Xml: TBytes; const Cif: string;
  Version: UInt32): TAnafResult;
var
  UCif: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_etransport_upload(FHandle, BytesPtr(Xml), Length(Xml),
    PAnsiChar(UCif), Version, @R, @E), R, E);
end;

function TAnafClient.ETransportStatus(UploadId: UInt64): TAnafResult;
var
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_etransport_status(FHandle, UploadId, @R, @E), R, E);
end;

function TAnafClient.ETransportList(const Cif: string; Days: UInt32): TAnafResult;
var
  UCif: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  UCif := Utf8(Cif);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_etransport_list(FHandle, PAnsiChar(UCif), Days, @R, @E), R, E);
end;

function TAnafClient.ETransportInfo(const OperatorCif, DeclarantCif, Uit,
  Reference: string): TAnafResult;
var
  U1, U2, U3, U4: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U1 := Utf8(OperatorCif);
  U2 := Utf8(DeclarantCif);
  U3 := Utf8(Uit);
  U4 := Utf8(Reference);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_etransport_info(FHandle, PAnsiChar(U1), OptionalPChar(U2),
    OptionalPChar(U3), OptionalPChar(U4), @R, @E), R, E);
end;

function TAnafClient.LookupTaxpayers(const Cifs, Date: string): TAnafResult;
var
  U1, U2: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U1 := Utf8(Cifs);
  U2 := Utf8(Date);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_public_lookup_taxpayers(FHandle, PAnsiChar(U1), OptionalPChar(U2),
    @R, @E), R, E);
end;

function TAnafClient.LookupEFacturaRegister(const Cifs, Date: string): TAnafResult;
var
  U1, U2: UTF8String;
  R: PAnafResult;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U1 := Utf8(Cifs);
  U2 := Utf8(Date);
  R := nil;
  E := nil;
  F := EnterLibrary;
  Result := Finish(F, anaf_public_lookup_efactura_register(FHandle, PAnsiChar(U1),
    OptionalPChar(U2), @R, @E), R, E);
end;

// ---------------------------------------------------------------------------------------
// TAnafSandbox.
// ---------------------------------------------------------------------------------------

{$IFNDEF ANAF_NO_SANDBOX}

constructor TAnafSandbox.Start(const OptionsJson: string);
var
  U: UTF8String;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  inherited Create;
  U := Utf8(OptionsJson);
  E := nil;
  F := EnterLibrary;
  FinishStatus(F, anaf_sandbox_start(OptionalPChar(U), @FHandle, @E), E);
end;

destructor TAnafSandbox.Destroy;
var
  F: TFPUExceptionMask;
begin
  F := EnterLibrary;
  anaf_sandbox_free(FHandle);
  LeaveLibrary(F);
  inherited;
end;

function TAnafSandbox.BaseUrl: string;
begin
  Result := AnafFromUtf8(anaf_sandbox_base_url(FHandle));
end;

function TAnafSandbox.Info: string;
var
  P: PAnsiChar;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  P := nil;
  E := nil;
  F := EnterLibrary;
  Result := FinishString(F, anaf_sandbox_info(FHandle, @P, @E), P, E);
end;

procedure TAnafSandbox.Configure(Options: TAnafOptions);
var
  H: PAnafOptions;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  H := nil;
  if Options <> nil then
    H := Options.Handle;
  E := nil;
  F := EnterLibrary;
  FinishStatus(F, anaf_sandbox_configure(FHandle, H, @E), E);
end;

function TAnafSandbox.RegisterApp(const SpecJson: string): string;
var
  U: UTF8String;
  P: PAnsiChar;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(SpecJson);
  P := nil;
  E := nil;
  F := EnterLibrary;
  Result := FinishString(F, anaf_sandbox_register_app(FHandle, PAnsiChar(U), @P, @E), P, E);
end;

function TAnafSandbox.AddIdentity(const SpecJson: string): string;
var
  U: UTF8String;
  P: PAnsiChar;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(SpecJson);
  P := nil;
  E := nil;
  F := EnterLibrary;
  Result := FinishString(F, anaf_sandbox_add_identity(FHandle, PAnsiChar(U), @P, @E), P, E);
end;

procedure TAnafSandbox.SetCompany(const SpecJson: string);
var
  U: UTF8String;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(SpecJson);
  E := nil;
  F := EnterLibrary;
  FinishStatus(F, anaf_sandbox_set_company(FHandle, PAnsiChar(U), @E), E);
end;

function TAnafSandbox.Authorize(const RequestJson: string): string;
var
  U: UTF8String;
  P: PAnsiChar;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(RequestJson);
  P := nil;
  E := nil;
  F := EnterLibrary;
  Result := FinishString(F, anaf_sandbox_authorize(FHandle, OptionalPChar(U), @P, @E), P, E);
end;

procedure TAnafSandbox.InjectFault(const FaultJson: string);
var
  U: UTF8String;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(FaultJson);
  E := nil;
  F := EnterLibrary;
  FinishStatus(F, anaf_sandbox_inject_fault(FHandle, PAnsiChar(U), @E), E);
end;

procedure TAnafSandbox.ClearFaults;
var
  F: TFPUExceptionMask;
begin
  F := EnterLibrary;
  anaf_sandbox_clear_faults(FHandle);
  LeaveLibrary(F);
end;

procedure TAnafSandbox.AdvanceClock(Milliseconds: UInt64);
var
  F: TFPUExceptionMask;
begin
  F := EnterLibrary;
  anaf_sandbox_advance_clock(FHandle, Milliseconds);
  LeaveLibrary(F);
end;

function TAnafSandbox.Uploads(const Cif: string): string;
var
  U: UTF8String;
  P: PAnsiChar;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(Cif);
  P := nil;
  E := nil;
  F := EnterLibrary;
  Result := FinishString(F, anaf_sandbox_uploads(FHandle, OptionalPChar(U), @P, @E), P, E);
end;

function TAnafSandbox.Requests: string;
var
  P: PAnsiChar;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  P := nil;
  E := nil;
  F := EnterLibrary;
  Result := FinishString(F, anaf_sandbox_requests(FHandle, @P, @E), P, E);
end;

function TAnafSandbox.SeedReceivedInvoices(const RequestJson: string): string;
var
  U: UTF8String;
  P: PAnsiChar;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U := Utf8(RequestJson);
  P := nil;
  E := nil;
  F := EnterLibrary;
  Result := FinishString(F, anaf_sandbox_seed_received_invoices(FHandle, PAnsiChar(U), @P, @E),
    P, E);
end;

class function TAnafSandbox.SampleInvoice(const Number, SellerCif, BuyerCif: string): string;
var
  U1, U2, U3: UTF8String;
  P: PAnsiChar;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U1 := Utf8(Number);
  U2 := Utf8(SellerCif);
  U3 := Utf8(BuyerCif);
  P := nil;
  E := nil;
  F := EnterLibrary;
  Result := FinishString(F, anaf_sandbox_sample_invoice(PAnsiChar(U1), PAnsiChar(U2),
    PAnsiChar(U3), @P, @E), P, E);
end;

class function TAnafSandbox.SampleTransport(const DeclarantCif, Reference: string): string;
var
  U1, U2: UTF8String;
  P: PAnsiChar;
  E: PAnafError;
  F: TFPUExceptionMask;
begin
  U1 := Utf8(DeclarantCif);
  U2 := Utf8(Reference);
  P := nil;
  E := nil;
  F := EnterLibrary;
  Result := FinishString(F, anaf_sandbox_sample_transport(PAnsiChar(U1), PAnsiChar(U2), @P, @E),
    P, E);
end;

{$ENDIF ANAF_NO_SANDBOX}

initialization
  // The library calls back on threads Delphi did not create: the memory manager must lock.
  IsMultiThread := True;

end.
