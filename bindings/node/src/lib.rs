//! The native addon behind the npm package `anaf`. Thin: arguments in, the core's serialisable
//! results out as JSON text with camelCase keys (the JavaScript wrapper, `index.js`, parses it
//! and turns timestamps into `Date`s), bytes as `Buffer`s, errors as the core error's JSON (the
//! wrapper makes an `AnafError` of it). No protocol logic lives here or in JavaScript: every
//! operation is one call into the core.
//!
//! Each operation is written once, as a [`Call`]: a core future not started yet, run as a
//! Promise (on the core's runtime, cancellable) or blocking (the `...Sync` twins) as its last
//! argument ([`How`]) says, so the two forms cannot drift apart.
//!
//! Token callbacks written in JavaScript run on the JavaScript thread. The core asks for them
//! from its blocking pool; the request goes into one queue (the [`Hub`]) that two parties
//! drain: a threadsafe function (when the JavaScript thread is free) and a `...Sync` call
//! waiting on that thread (which would otherwise deadlock, the thread being blocked).

#![deny(clippy::unwrap_used)]

mod camel;
mod promise;

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anaf_core::efactura::{DocumentType, MessageFilter, PdfOutcome, Standard, UploadOptions, WaitOptions};
use anaf_core::etransport::{InfoFilter, SchemaVersion};
use anaf_core::{Application, CallbackTokenStore, CancellationToken, Error, TokenSet};
use chrono::{DateTime, NaiveDate, Utc};
use napi::bindgen_prelude::{Buffer, Either, FnArgs, Function, ToNapiValue, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status, sys};
use napi_derive::napi;

/// What the wrapper looks for at the start of an error message: the rest is the core error's
/// JSON. Any other exception passes through the wrapper unchanged.
const ERROR_MARK: &str = "anaf-error:";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The core's error for JavaScript: its JSON (every detail, never a secret) behind the mark.
fn js_error(error: &Error) -> napi::Error {
    let json = serde_json::to_string(error).unwrap_or_else(|_| "{}".to_owned());
    napi::Error::new(Status::GenericFailure, format!("{ERROR_MARK}{json}"))
}

fn invalid(field: &str, message: impl Into<String>) -> napi::Error {
    js_error(&Error::invalid_input(field, message.into()))
}

fn to_json(value: &impl serde::Serialize) -> napi::Result<String> {
    js_json(value).map_err(|e| js_error(&e))
}

/// A value's JSON for the wrapper: keys in camelCase, JavaScript's convention, except inside
/// `raw` (ANAF's own records stay as ANAF wrote them). Renamed here rather than key by key in
/// JavaScript: for a Promise this runs on the core's runtime, off the event loop, and it
/// leaves the wrapper only `JSON.parse` and the Dates (BENCHMARKS.md, Node).
fn js_json(value: &impl serde::Serialize) -> Result<String, Error> {
    let json = serde_json::to_string(value).map_err(|e| Error::internal(format!("result to JSON: {e}")))?;
    Ok(camel::camel_case_keys(&json))
}

/// A finished call's value on its way to JavaScript. Its `Debug` names the variant only: the
/// JSON may be `tokensJson`'s, secrets included.
pub enum Out {
    Json(String),
    Bytes(Vec<u8>),
    Archive(Archive),
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Out::Json(_) => f.write_str("Out::Json(..)"),
            Out::Bytes(bytes) => write!(f, "Out::Bytes({} bytes)", bytes.len()),
            Out::Archive(_) => f.write_str("Out::Archive(..)"),
        }
    }
}

impl ToNapiValue for Out {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        // SAFETY: called by napi with a live env on the JavaScript thread; delegates to the
        // conversions of the types inside.
        unsafe {
            match value {
                Out::Json(text) => String::to_napi_value(env, text),
                Out::Bytes(bytes) => Buffer::to_napi_value(env, Buffer::from(bytes)),
                Out::Archive(archive) => Archive::to_napi_value(env, archive),
            }
        }
    }
}

type Work = Pin<Box<dyn Future<Output = Result<Out, Error>> + Send>>;

thread_local! {
    /// The core's runtime as this JavaScript thread first got it. `runtime::handle()` takes the
    /// core's lock and asks the system for the process id (to start a new runtime after a
    /// fork) each time, on the path of every call; a Node process neither forks nor shuts the
    /// runtime down.
    static RUNTIME: std::cell::RefCell<Option<tokio::runtime::Handle>> = const { std::cell::RefCell::new(None) };
}

fn runtime() -> napi::Result<tokio::runtime::Handle> {
    RUNTIME.with(|cached| {
        if let Some(handle) = &*cached.borrow() {
            return Ok(handle.clone());
        }
        let handle = anaf_core::runtime::handle().map_err(|e| js_error(&e))?;
        *cached.borrow_mut() = Some(handle.clone());
        Ok(handle)
    })
}

fn json_work<T: serde::Serialize>(work: impl Future<Output = Result<T, Error>> + Send + 'static) -> Work {
    Box::pin(async move { js_json(&work.await?).map(Out::Json) })
}

/// One operation of the core, not started yet, run the way the wrapper asks for by the last
/// argument of every operation ([`How`]). Each operation is written once for both forms, so
/// the Promise and the `...Sync` twin cannot drift apart.
///
/// No JavaScript object per call: creating one (and collecting it) cost more than anything
/// else the binding does on the JavaScript thread (BENCHMARKS.md, Node).
struct Call {
    work: Work,
    /// The client has JavaScript token callbacks: a blocking wait must serve them.
    serve_callbacks: bool,
}

/// How an operation runs:
/// - omitted: started on the core's runtime, returned as a Promise that settles on the
///   JavaScript thread (the event loop is never blocked: the work and the conversion to JSON
///   happen off it);
/// - a key from `cancelKey()`: the same, and `cancel(key)` cancels it (the wrapper wires
///   `AbortSignal` to it);
/// - the wrapper's token dispatcher: run blocking this thread (the `...Sync` twins), the
///   dispatcher running the JavaScript token callbacks the core asks for meanwhile.
#[napi]
pub type How<'f> = Option<Either<u32, Function<'f, FnArgs<(u32, u32, String, Option<String>, bool)>, ()>>>;

/// The cancel keys handed out (`cancelKey()`), each with its token and whether its call runs
/// yet. A key no longer here was cancelled before its call started (or its call settled).
static CANCELLABLE: Mutex<BTreeMap<u32, (CancellationToken, bool)>> = Mutex::new(BTreeMap::new());
static NEXT_CANCEL_KEY: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Call {
    fn new(work: Work, serve_callbacks: bool) -> Call {
        Call { work, serve_callbacks }
    }

    fn run<'env>(self, env: &'env Env, how: How<'_>) -> napi::Result<Unknown<'env>> {
        match how {
            None => self.start(env, None),
            Some(Either::A(cancel_key)) => self.start(env, Some(cancel_key)),
            Some(Either::B(dispatcher)) => self.wait(env, &dispatcher),
        }
    }

    fn start<'env>(self, env: &'env Env, cancel_key: Option<u32>) -> napi::Result<Unknown<'env>> {
        let runtime = runtime()?;
        let (settle, promise) = promise::new(env)?;
        let cancel = cancel_key.map(|key| {
            let token = match lock(&CANCELLABLE).get_mut(&key) {
                Some((token, running)) => {
                    *running = true;
                    token.clone()
                }
                None => {
                    // Cancelled before it started: it settles as `cancelled`, nothing sent.
                    let token = CancellationToken::new();
                    token.cancel();
                    token
                }
            };
            (key, token)
        });
        let work = self.work;
        runtime.spawn(async move {
            let outcome = match &cancel {
                None => work.await,
                Some((key, token)) => {
                    let outcome = anaf_core::cancellable(token, work).await;
                    lock(&CANCELLABLE).remove(key);
                    outcome
                }
            };
            settle.settle(outcome);
        });
        Ok(promise)
    }

    fn wait<'env>(self, env: &'env Env, dispatcher: &Function<'_, DispatchArgs, ()>) -> napi::Result<Unknown<'env>> {
        let outcome = if self.serve_callbacks {
            HUB.wait_serving(self.work, dispatcher)?
        } else {
            anaf_core::runtime::block_on(self.work)
        };
        outcome.map_err(|e| js_error(&e))?.into_unknown(env)
    }
}

/// A fresh key for an operation's `how`, to cancel it with `cancel(key)`.
#[napi]
pub fn cancel_key() -> u32 {
    let key = NEXT_CANCEL_KEY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    lock(&CANCELLABLE).insert(key, (CancellationToken::new(), false));
    key
}

/// Cancels the call of `key`: a running one stops (an upload already on the wire ends as a
/// `cancelled` error with `upload_outcome_unknown`; one ANAF accepted carries its
/// `upload_id`); one not started yet will settle as `cancelled` without sending anything; a
/// settled one is left alone.
#[napi]
pub fn cancel(key: u32) {
    let mut cancellable = lock(&CANCELLABLE);
    match cancellable.get(&key) {
        Some((token, true)) => token.cancel(),
        Some((_, false)) => {
            cancellable.remove(&key);
        }
        None => {}
    }
}

// ---------------------------------------------------------------------------------------
// JavaScript token callbacks

/// `(requestId, clientKey, operation, payload, inline)`; `operation` is `load`, `save`,
/// `clear` or `event` (no reply).
type DispatchArgs = FnArgs<(u32, u32, String, Option<String>, bool)>;
type Reply = std::sync::mpsc::Sender<Result<Option<String>, String>>;
type Dispatcher = ThreadsafeFunction<u32, (), DispatchArgs, Status, false, true>;

struct Request {
    id: u32,
    key: u32,
    operation: &'static str,
    payload: Option<String>,
    reply: Option<Reply>,
}

#[derive(Default)]
struct HubState {
    next_id: u32,
    requests: VecDeque<Request>,
    /// Replies owed by JavaScript for requests it has been given.
    pending: BTreeMap<u32, Reply>,
    /// Outcomes of blocking calls that serve callbacks, by waiter.
    finished: BTreeMap<u32, Result<Out, Error>>,
    dispatcher: Option<Arc<Dispatcher>>,
}

struct Hub {
    state: Mutex<HubState>,
    changed: Condvar,
}

static HUB: Hub = Hub {
    state: Mutex::new(HubState {
        next_id: 0,
        requests: VecDeque::new(),
        pending: BTreeMap::new(),
        finished: BTreeMap::new(),
        dispatcher: None,
    }),
    changed: Condvar::new(),
};

impl Hub {
    fn next_id(state: &mut HubState) -> u32 {
        // 0 is the wrapper's "nothing to do".
        state.next_id = state.next_id.wrapping_add(1).max(1);
        state.next_id
    }

    /// Queues a request and wakes both drainers. Called from the core's blocking pool.
    fn push(
        &self,
        key: u32,
        operation: &'static str,
        payload: Option<String>,
        reply: Option<Reply>,
    ) -> Result<(), String> {
        let (id, dispatcher) = {
            let mut state = lock(&self.state);
            let Some(dispatcher) = state.dispatcher.clone() else {
                return Err("the JavaScript token callbacks are not registered".into());
            };
            let id = Hub::next_id(&mut state);
            state.requests.push_back(Request {
                id,
                key,
                operation,
                payload,
                reply,
            });
            (id, dispatcher)
        };
        self.changed.notify_all();
        let status = dispatcher.call(id, ThreadsafeFunctionCallMode::NonBlocking);
        if status != Status::Ok {
            // The JavaScript side is closing: answer rather than strand the core's thread.
            if let Some(request) = self.take(id)
                && let Some(reply) = request.reply
            {
                let _ = reply.send(Err("the JavaScript environment is shutting down".into()));
            }
        }
        Ok(())
    }

    /// Asks JavaScript and waits for its answer (on the core's blocking pool).
    fn ask(&self, key: u32, operation: &'static str, payload: Option<String>) -> Result<Option<String>, String> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.push(key, operation, payload, Some(reply))?;
        answer
            .recv()
            .map_err(|_| "the JavaScript token callback never answered".to_owned())?
    }

    /// Takes a queued request (once: the other drainer finds it gone), keeping its reply.
    fn take(&self, id: u32) -> Option<Request> {
        let mut state = lock(&self.state);
        let at = state.requests.iter().position(|r| r.id == id)?;
        state.requests.remove(at)
    }

    fn expect_reply(&self, request: &mut Request) {
        if let Some(reply) = request.reply.take() {
            lock(&self.state).pending.insert(request.id, reply);
        }
    }

    fn reply(&self, id: u32, answer: Result<Option<String>, String>) {
        let reply = lock(&self.state).pending.remove(&id);
        if let Some(reply) = reply {
            let _ = reply.send(answer);
        }
    }

    /// A blocking call that serves the callbacks it may need: the work runs on the core's
    /// runtime while this (the JavaScript) thread runs queued callbacks inline.
    fn wait_serving(
        &self,
        work: Work,
        dispatcher: &Function<'_, DispatchArgs, ()>,
    ) -> napi::Result<Result<Out, Error>> {
        let runtime = runtime()?;
        let waiter = Hub::next_id(&mut lock(&self.state));
        runtime.spawn(async move {
            let outcome = work.await;
            lock(&HUB.state).finished.insert(waiter, outcome);
            HUB.changed.notify_all();
        });
        let mut state = lock(&self.state);
        loop {
            if let Some(outcome) = state.finished.remove(&waiter) {
                return Ok(outcome);
            }
            if let Some(mut request) = state.requests.pop_front() {
                drop(state);
                let id = request.id;
                self.expect_reply(&mut request);
                let args = (id, request.key, request.operation.to_owned(), request.payload, true);
                let called = dispatcher.call(args.into());
                // The wrapper replies before returning; make sure nobody waits forever if not.
                self.reply(id, Err("the token callback did not answer".into()));
                called?;
                state = lock(&self.state);
                continue;
            }
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Registers the wrapper's dispatcher of token callbacks (once per module load). It is
/// called with `(requestId, clientKey, operation, payload, inline)` and answers with
/// `tokenReply`.
#[napi(
    ts_args_type = "dispatcher: (requestId: number, clientKey: number, operation: string, payload: string | null, inline: boolean) => void"
)]
pub fn set_token_dispatcher(dispatcher: Function<'_, DispatchArgs, ()>) -> napi::Result<()> {
    let tsfn = dispatcher
        .build_threadsafe_function::<u32>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(|ctx| {
            // Taken here unless a blocking call already ran it inline (then id 0: nothing).
            let args: DispatchArgs = match HUB.take(ctx.value) {
                Some(mut request) => {
                    HUB.expect_reply(&mut request);
                    let operation = request.operation.to_owned();
                    (request.id, request.key, operation, request.payload, false).into()
                }
                None => (0, 0, String::new(), None, false).into(),
            };
            Ok(args)
        })?;
    lock(&HUB.state).dispatcher = Some(Arc::new(tsfn));
    Ok(())
}

/// The answer of a token callback: `error` (its message), else `json` (the token set for a
/// load, or null).
#[napi]
pub fn token_reply(request_id: u32, error: Option<String>, json: Option<String>) {
    HUB.reply(request_id, error.map_or(Ok(json), Err));
}

fn js_store(key: u32, with_clear: bool, sharing_key: Option<String>) -> CallbackTokenStore {
    let mut store = CallbackTokenStore::new(
        move || match HUB.ask(key, "load", None)? {
            Some(json) => TokenSet::from_json(&json).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        },
        move |tokens| HUB.ask(key, "save", Some(tokens.to_json())).map(drop),
    );
    if with_clear {
        store = store.with_clear(move || HUB.ask(key, "clear", None).map(drop));
    }
    if let Some(sharing_key) = sharing_key {
        store = store.with_sharing_key(sharing_key);
    }
    store
}

// ---------------------------------------------------------------------------------------
// Logging

/// `(level, target, message)`.
type LogArgs = FnArgs<(String, String, String)>;

struct JsLog {
    sink: ThreadsafeFunction<LogArgs, (), LogArgs, Status, false, true>,
}

impl anaf_core::log_bridge::LogSink for JsLog {
    fn log(&self, level: anaf_core::log_bridge::Level, target: &str, message: &str) {
        let level = level.as_str().to_ascii_lowercase();
        // Never blocks the logging thread; lines logged while the JS thread is busy wait.
        let _ = self.sink.call(
            (level, target.replace("::", "."), message.to_owned()).into(),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    }
}

/// Sends the core's logs (tokens and codes are never in them) at `level` (`error`, `warn`,
/// `info`, `debug`, `trace`) and above to `sink(level, target, message)`; null stops.
#[napi(ts_args_type = "sink: ((level: string, target: string, message: string) => void) | null, level?: string")]
pub fn set_logger(sink: Option<Function<'_, LogArgs, ()>>, level: Option<String>) -> napi::Result<()> {
    use anaf_core::log_bridge::Level;
    let sink = match sink {
        None => None,
        Some(function) => {
            let level = match level.as_deref().unwrap_or("info") {
                "error" => Level::ERROR,
                "warn" => Level::WARN,
                "info" => Level::INFO,
                "debug" => Level::DEBUG,
                "trace" => Level::TRACE,
                other => return Err(invalid("level", format!("{other:?} is not a log level"))),
            };
            let tsfn = function
                .build_threadsafe_function::<LogArgs>()
                .callee_handled::<false>()
                .weak::<true>()
                .build()?;
            let sink: Arc<dyn anaf_core::log_bridge::LogSink> = Arc::new(JsLog { sink: tsfn });
            Some((sink, level))
        }
    };
    anaf_core::log_bridge::set_sink(sink).map_err(|e| js_error(&e))
}

// ---------------------------------------------------------------------------------------
// Arguments

fn bytes(value: Either<String, Buffer>) -> Vec<u8> {
    match value {
        Either::A(text) => text.into_bytes(),
        Either::B(buffer) => buffer.to_vec(),
    }
}

fn id_arg(value: f64, name: &str) -> napi::Result<u64> {
    // 2^53: the last integer a JavaScript number holds exactly.
    if value.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&value) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(value as u64)
    } else {
        Err(invalid(name, format!("{name} must be a whole number >= 0")))
    }
}

fn millis(value: f64, name: &str) -> napi::Result<Duration> {
    Duration::try_from_secs_f64(value / 1000.0)
        .map_err(|_| invalid(name, format!("{name} must be a number of milliseconds >= 0")))
}

fn time_arg(ms: f64, name: &str) -> napi::Result<DateTime<Utc>> {
    #[allow(clippy::cast_possible_truncation)]
    let whole = ms as i64;
    DateTime::from_timestamp_millis(whole)
        .filter(|_| ms.is_finite())
        .ok_or_else(|| invalid(name, format!("{name} is not a valid Date")))
}

fn day_arg(text: Option<String>) -> napi::Result<Option<NaiveDate>> {
    text.map(|t| {
        NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|_| invalid("date", "date must be a day as YYYY-MM-DD"))
    })
    .transpose()
}

fn code<T: std::str::FromStr<Err = Error>>(text: &str, name: &str) -> napi::Result<T> {
    text.parse().map_err(|e: Error| invalid(name, e.to_string()))
}

fn opt_code<T: std::str::FromStr<Err = Error>>(text: Option<String>, name: &str) -> napi::Result<Option<T>> {
    text.map(|t| code(&t, name)).transpose()
}

fn schema_version(version: Option<u32>) -> napi::Result<SchemaVersion> {
    match version.unwrap_or(2) {
        2 => Ok(SchemaVersion::V2),
        1 => Ok(SchemaVersion::V1),
        other => Err(invalid(
            "version",
            format!("e-Transport schema version {other} does not exist"),
        )),
    }
}

/// The options of `new Client(...)` as the wrapper passes them (times in milliseconds).
#[napi(object)]
pub struct NativeClientOptions {
    pub environment: Option<String>,
    pub base_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
    pub token_file: Option<String>,
    /// The wrapper's key for this client's token callbacks (load and save), if it has them.
    pub callback_key: Option<u32>,
    pub token_clear: Option<bool>,
    /// The wrapper's key for this client's `onTokenEvent`, if it has one.
    pub event_key: Option<u32>,
    pub token_sharing_key: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub limit_requests: Option<bool>,
    pub timeout_ms: Option<f64>,
    pub connect_timeout_ms: Option<f64>,
    pub user_agent: Option<String>,
    pub proxy: Option<String>,
    pub max_retries: Option<u32>,
    /// A SQLite file or a `postgres://` URL: the journal of `submit` and the quota ledger.
    pub state_database: Option<String>,
    pub resend_after_ms: Option<f64>,
    /// One daily limit for every counted call (default: ANAF's less 5%).
    pub daily_limit: Option<u32>,
    /// Keep the tokens in the state database under this name (one login for every process
    /// and machine using it), instead of a token file or callbacks.
    pub database_tokens: Option<String>,
}

impl std::fmt::Debug for NativeClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client secret is left out on purpose.
        f.debug_struct("NativeClientOptions")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// `upload`'s flags.
#[napi(object)]
#[derive(Debug)]
pub struct NativeUploadOptions {
    pub standard: Option<String>,
    pub external: Option<bool>,
    pub self_billed: Option<bool>,
    pub enforcement: Option<bool>,
    pub b2c: Option<bool>,
}

/// `uploadAndWait`'s polling (milliseconds).
#[napi(object)]
#[derive(Debug)]
pub struct NativeWaitOptions {
    pub timeout_ms: Option<f64>,
    pub first_poll_ms: Option<f64>,
    pub max_interval_ms: Option<f64>,
    pub max_polls: Option<u32>,
}

fn upload_options(options: Option<NativeUploadOptions>) -> napi::Result<UploadOptions> {
    let Some(o) = options else {
        return Ok(UploadOptions::new());
    };
    let standard: Standard = code(o.standard.as_deref().unwrap_or("ubl"), "standard")?;
    Ok(UploadOptions::new()
        .standard(standard)
        .external(o.external.unwrap_or(false))
        .self_billed(o.self_billed.unwrap_or(false))
        .enforcement(o.enforcement.unwrap_or(false))
        .b2c(o.b2c.unwrap_or(false)))
}

fn wait_options(options: Option<NativeWaitOptions>) -> napi::Result<WaitOptions> {
    let Some(o) = options else {
        return Ok(WaitOptions::default());
    };
    let mut wait = WaitOptions::default().max_polls(o.max_polls);
    if let Some(ms) = o.timeout_ms {
        wait = wait.timeout(millis(ms, "timeout")?);
    }
    if let Some(ms) = o.first_poll_ms {
        wait = wait.first_poll(millis(ms, "firstPoll")?);
    }
    if let Some(ms) = o.max_interval_ms {
        wait = wait.max_interval(millis(ms, "maxInterval")?);
    }
    Ok(wait)
}

// ---------------------------------------------------------------------------------------
// Results that are objects

/// An answer archive ("descarcare": download): the ZIP as received, its entries on demand.
#[napi]
pub struct Archive {
    inner: anaf_core::efactura::Archive,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("upload_id", &self.inner.upload_id())
            .field("document_name", &self.inner.document_name())
            .finish_non_exhaustive()
    }
}

#[napi]
impl Archive {
    /// Opens a saved ZIP from its bytes.
    #[napi(factory)]
    pub fn from_buffer(zip: Buffer) -> napi::Result<Archive> {
        Ok(Archive {
            inner: anaf_core::efactura::Archive::from_bytes(zip.to_vec()).map_err(|e| js_error(&e))?,
        })
    }

    /// Opens a saved ZIP file.
    #[napi(factory)]
    pub fn open(path: String) -> napi::Result<Archive> {
        Ok(Archive {
            inner: anaf_core::efactura::Archive::open(path).map_err(|e| js_error(&e))?,
        })
    }

    /// The ZIP exactly as ANAF sent it.
    #[napi(getter)]
    pub fn zip(&self) -> Buffer {
        Buffer::from(self.inner.zip_bytes().to_vec())
    }

    #[napi(getter)]
    pub fn upload_id(&self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        self.inner.upload_id().map(|id| id as f64)
    }

    #[napi(getter)]
    pub fn document_name(&self) -> String {
        self.inner.document_name().to_owned()
    }

    #[napi(getter)]
    pub fn signature_name(&self) -> String {
        self.inner.signature_name().to_owned()
    }

    /// The invoice (or ANAF's error document), as in the archive.
    #[napi]
    pub fn document(&self) -> napi::Result<Buffer> {
        Ok(Buffer::from(self.inner.document().map_err(|e| js_error(&e))?.to_vec()))
    }

    /// ANAF's signature of the document.
    #[napi]
    pub fn signature(&self) -> napi::Result<Buffer> {
        Ok(Buffer::from(self.inner.signature().map_err(|e| js_error(&e))?.to_vec()))
    }

    /// ANAF's reasons for a `nok` as JSON (`upload_id`, `seller_cif`, `messages`), or null.
    #[napi]
    pub fn error_report(&self) -> napi::Result<Option<String>> {
        match self.inner.error_report().map_err(|e| js_error(&e))? {
            Some(report) => to_json(&report).map(Some),
            None => Ok(None),
        }
    }

    /// The invoice's main fields as JSON (number, dates, parties, totals), or null for ANAF's
    /// error document.
    #[napi]
    pub fn invoice_summary(&self) -> napi::Result<Option<String>> {
        match self.inner.invoice_summary().map_err(|e| js_error(&e))? {
            Some(summary) => to_json(&summary).map(Some),
            None => Ok(None),
        }
    }

    /// The error report as the error JSON it stands for (e.g. `duplicate_invoice` with
    /// `previous_upload_id`), or null.
    #[napi]
    pub fn error(&self) -> napi::Result<Option<String>> {
        match self.inner.error_report().map_err(|e| js_error(&e))? {
            // The error's own JSON (snake_case), as every error reaches the wrapper.
            Some(report) => serde_json::to_string(&report.to_error())
                .map(Some)
                .map_err(|e| js_error(&Error::internal(format!("error to JSON: {e}")))),
            None => Ok(None),
        }
    }
}

/// Every message of an interval, a page at a time (one `nextPage` at a time).
#[napi]
pub struct MessageStream {
    stream: Arc<tokio::sync::Mutex<anaf_core::efactura::MessageStream>>,
    serve_callbacks: bool,
}

impl std::fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream").finish_non_exhaustive()
    }
}

#[napi]
impl MessageStream {
    /// The next page as JSON, or `null` after the last.
    #[napi]
    pub fn next_page<'env>(&self, env: &'env Env, how: How<'_>) -> napi::Result<Unknown<'env>> {
        let stream = self.stream.clone();
        Call::new(
            json_work(async move { stream.lock().await.next_page().await }),
            self.serve_callbacks,
        )
        .run(env, how)
    }

    /// `{"effective_start", "effective_end"}`: the interval actually listed (final once the
    /// first page is read). Refused while a page is being read.
    #[napi]
    pub fn window(&self) -> napi::Result<String> {
        let stream = self
            .stream
            .try_lock()
            .map_err(|_| invalid("stream", "a page is being read; ask for the window after it arrives"))?;
        to_json(&serde_json::json!({
            "effective_start": stream.effective_start(),
            "effective_end": stream.effective_end(),
        }))
    }
}

// ---------------------------------------------------------------------------------------
// The client

/// The client: every operation as a [`Call`].
#[napi]
pub struct NativeClient {
    client: anaf_core::Client,
    serve_callbacks: bool,
}

impl std::fmt::Debug for NativeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeClient").finish_non_exhaustive()
    }
}

#[napi]
impl NativeClient {
    #[napi(constructor)]
    pub fn new(options: NativeClientOptions) -> napi::Result<NativeClient> {
        let o = options;
        let mut builder = anaf_core::Client::builder();
        if let Some(environment) = &o.environment {
            builder = builder.environment(code(environment, "environment")?);
        }
        if let Some(base_url) = &o.base_url {
            builder = builder.base_url(base_url).map_err(|e| js_error(&e))?;
        }
        match (o.client_id, o.client_secret, o.redirect_uri) {
            (Some(id), Some(secret), Some(redirect)) => {
                builder = builder.application(Application::new(id, secret, redirect));
            }
            (None, None, None) => {}
            _ => {
                return Err(invalid(
                    "clientId",
                    "give clientId, clientSecret and redirectUri together",
                ));
            }
        }
        let serve_callbacks = o.callback_key.is_some();
        match (o.token_file, o.callback_key) {
            (Some(path), None) => {
                builder = builder.shared_token_store(Arc::new(anaf_core::FileTokenStore::new(path)));
            }
            (None, Some(key)) => {
                let store = js_store(key, o.token_clear.unwrap_or(false), o.token_sharing_key);
                builder = builder.shared_token_store(Arc::new(store));
            }
            (None, None) => {}
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "tokenStore",
                    "give tokenFile, or tokenLoad and tokenSave, not both",
                ));
            }
        }
        if let Some(key) = o.event_key {
            builder = builder.on_token_event(move |event| {
                if let Ok(json) = js_json(event) {
                    let _ = HUB.push(key, "event", Some(json), None);
                }
            });
        }
        if o.limit_requests == Some(false) {
            builder = builder.requests_per_minute(None);
        } else if let Some(rpm) = o.requests_per_minute {
            builder = builder.requests_per_minute(Some(rpm));
        }
        if let Some(ms) = o.timeout_ms {
            builder = builder.timeout(millis(ms, "timeout")?);
        }
        if let Some(ms) = o.connect_timeout_ms {
            builder = builder.connect_timeout(millis(ms, "connectTimeout")?);
        }
        if let Some(agent) = o.user_agent {
            builder = builder.user_agent(agent);
        }
        if let Some(proxy) = o.proxy {
            builder = builder.proxy(proxy);
        }
        if let Some(retries) = o.max_retries {
            let mut policy = anaf_core::RetryPolicy::default();
            policy.max_attempts = retries.saturating_add(1);
            builder = builder.retry_policy(policy);
        }
        if let Some(url) = o.state_database {
            // Opened and migrated here: a constructor cannot wait for a Promise.
            let database =
                anaf_core::runtime::block_on(anaf_core::state::Database::open(&url)).map_err(|e| js_error(&e))?;
            builder = builder.state(database);
        }
        if let Some(ms) = o.resend_after_ms {
            builder = builder.resend_after(millis(ms, "resendAfter")?);
        }
        if let Some(limit) = o.daily_limit {
            builder = builder.daily_limits(anaf_core::quota::DailyLimits::all(limit));
        }
        if let Some(name) = o.database_tokens {
            builder = builder.database_tokens(name);
        }
        Ok(NativeClient {
            client: builder.build().map_err(|e| js_error(&e))?,
            serve_callbacks,
        })
    }

    fn call<'env, T: serde::Serialize + 'static>(
        &self,
        env: &'env Env,
        how: How<'_>,
        work: impl FnOnce(anaf_core::Client) -> Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>,
    ) -> napi::Result<Unknown<'env>> {
        Call::new(json_work(work(self.client.clone())), self.serve_callbacks).run(env, how)
    }

    // --- OAuth

    /// `{"url", "state"}` as JSON.
    #[napi]
    pub fn authorization_url(&self, state: Option<String>) -> napi::Result<String> {
        to_json(
            &self
                .client
                .oauth()
                .authorization_url(state.as_deref())
                .map_err(|e| js_error(&e))?,
        )
    }

    #[napi]
    pub fn exchange_code<'env>(&self, env: &'env Env, code: String, how: How<'_>) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| {
            Box::pin(async move { c.oauth().exchange_code(&code).await.map(|t| t.info()) })
        })
    }

    #[napi]
    pub fn complete_authorization<'env>(
        &self,
        env: &'env Env,
        redirected_url: String,
        expected_state: String,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| {
            Box::pin(async move {
                c.oauth()
                    .complete_authorization(&redirected_url, &expected_state)
                    .await
                    .map(|t| t.info())
            })
        })
    }

    #[napi]
    pub fn login_interactive<'env>(
        &self,
        env: &'env Env,
        open_browser: Option<bool>,
        timeout_ms: Option<f64>,
        on_url: Option<Function<'_, String, ()>>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let mut options = anaf_core::LoginOptions::default().open_browser(open_browser.unwrap_or(true));
        if let Some(ms) = timeout_ms {
            options = options.timeout(millis(ms, "timeout")?);
        }
        if let Some(hook) = on_url {
            let tsfn = hook
                .build_threadsafe_function::<String>()
                .callee_handled::<false>()
                .build()?;
            options = options.on_url(move |url| {
                let _ = tsfn.call(url.to_owned(), ThreadsafeFunctionCallMode::NonBlocking);
            });
        }
        self.call(env, how, |c| {
            Box::pin(async move { c.oauth().login_interactive(options).await.map(|t| t.info()) })
        })
    }

    #[napi]
    pub fn refresh<'env>(&self, env: &'env Env, how: How<'_>) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| {
            Box::pin(async move { c.oauth().refresh().await.map(|t| t.info()) })
        })
    }

    #[napi]
    pub fn revoke<'env>(&self, env: &'env Env, how: How<'_>) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| Box::pin(async move { c.oauth().revoke().await }))
    }

    #[napi]
    pub fn token_status<'env>(&self, env: &'env Env, how: How<'_>) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| Box::pin(async move { c.oauth().token_status().await }))
    }

    /// The tokens WITH their secrets, as the JSON a store saves (null when logged out).
    #[napi]
    pub fn tokens_json<'env>(&self, env: &'env Env, how: How<'_>) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| {
            Box::pin(async move { c.oauth().tokens().await.map(|t| t.map(|t| t.to_json())) })
        })
    }

    #[napi]
    pub fn set_tokens_json<'env>(
        &self,
        env: &'env Env,
        tokens_json: String,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let tokens = TokenSet::from_json(&tokens_json).map_err(|e| js_error(&e))?;
        self.call(env, how, |c| {
            Box::pin(async move { c.oauth().set_tokens(tokens).await })
        })
    }

    #[napi]
    pub fn save_tokens<'env>(&self, env: &'env Env, how: How<'_>) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| Box::pin(async move { c.oauth().save_tokens().await }))
    }

    #[napi]
    pub fn clear_tokens<'env>(&self, env: &'env Env, how: How<'_>) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| Box::pin(async move { c.oauth().clear_tokens().await }))
    }

    #[napi]
    pub fn hello<'env>(&self, env: &'env Env, name: String, how: How<'_>) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| Box::pin(async move { c.hello(&name).await }))
    }

    // --- e-Factura

    #[napi]
    pub fn upload<'env>(
        &self,
        env: &'env Env,
        xml: Either<String, Buffer>,
        cif: String,
        options: Option<NativeUploadOptions>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let options = upload_options(options)?;
        let xml = bytes(xml);
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().upload(xml, &cif, options).await })
        })
    }

    #[napi]
    pub fn submit<'env>(
        &self,
        env: &'env Env,
        xml: Either<String, Buffer>,
        cif: String,
        options: Option<NativeUploadOptions>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let options = upload_options(options)?;
        let xml = bytes(xml);
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().submit(xml, &cif, options).await })
        })
    }

    #[napi]
    pub fn resume_submissions<'env>(&self, env: &'env Env, how: How<'_>) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().resume_submissions().await })
        })
    }

    #[napi]
    pub fn submissions<'env>(
        &self,
        env: &'env Env,
        cif: Option<String>,
        state: Option<String>,
        limit: Option<u32>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let mut query = anaf_core::state::SubmissionQuery::new();
        if let Some(cif) = cif {
            query = query.cif(cif);
        }
        if let Some(state) = opt_code(state, "state")? {
            query = query.state(state);
        }
        if let Some(limit) = limit {
            query = query.limit(limit);
        }
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().submissions(&query).await })
        })
    }

    #[napi]
    pub fn quota_usage<'env>(&self, env: &'env Env, how: How<'_>) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| Box::pin(async move { c.quota_usage().await }))
    }

    /// Archives every message of `cif` into `folder`; `on_progress` gets each count as JSON
    /// (camelCase), queued to the event loop.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn sync<'env>(
        &self,
        env: &'env Env,
        cif: String,
        folder: String,
        filter: Option<String>,
        since_ms: Option<f64>,
        pdf: Option<bool>,
        on_progress: Option<Function<'_, String, ()>>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let mut options = anaf_core::efactura::SyncOptions::new().pdf(pdf.unwrap_or(false));
        if let Some(filter) = opt_code::<MessageFilter>(filter, "filter")? {
            options = options.filter(filter);
        }
        if let Some(ms) = since_ms {
            options = options.since(time_arg(ms, "since")?);
        }
        if let Some(hook) = on_progress {
            let tsfn = hook
                .build_threadsafe_function::<String>()
                .callee_handled::<false>()
                .build()?;
            options = options.on_progress(move |progress| {
                if let Ok(json) = js_json(progress) {
                    let _ = tsfn.call(json, ThreadsafeFunctionCallMode::NonBlocking);
                }
            });
        }
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().sync(&cif, &folder, options).await })
        })
    }

    #[napi]
    pub fn upload_and_wait<'env>(
        &self,
        env: &'env Env,
        xml: Either<String, Buffer>,
        cif: String,
        options: Option<NativeUploadOptions>,
        wait: Option<NativeWaitOptions>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let options = upload_options(options)?;
        let wait = wait_options(wait)?;
        let xml = bytes(xml);
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().upload_and_wait(xml, &cif, options, wait).await })
        })
    }

    #[napi]
    pub fn status<'env>(&self, env: &'env Env, upload_id: f64, how: How<'_>) -> napi::Result<Unknown<'env>> {
        let upload_id = id_arg(upload_id, "uploadId")?;
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().status(upload_id).await })
        })
    }

    #[napi]
    pub fn download<'env>(&self, env: &'env Env, download_id: f64, how: How<'_>) -> napi::Result<Unknown<'env>> {
        let download_id = id_arg(download_id, "downloadId")?;
        let client = self.client.clone();
        let work: Work = Box::pin(async move {
            let inner = client.efactura().download(download_id).await?;
            Ok(Out::Archive(Archive { inner }))
        });
        Call::new(work, self.serve_callbacks).run(env, how)
    }

    #[napi]
    pub fn list_messages<'env>(
        &self,
        env: &'env Env,
        cif: String,
        days: u32,
        filter: Option<String>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let filter: Option<MessageFilter> = opt_code(filter, "filter")?;
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().list_messages(&cif, days, filter).await })
        })
    }

    /// `start` and `end` in milliseconds since the epoch (a `Date`'s `getTime()`).
    // Positional, as JavaScript passes them (env and `how` are the binding's own).
    #[allow(clippy::too_many_arguments)]
    #[napi]
    pub fn list_messages_page<'env>(
        &self,
        env: &'env Env,
        cif: String,
        start_ms: f64,
        end_ms: f64,
        page: u32,
        filter: Option<String>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let filter: Option<MessageFilter> = opt_code(filter, "filter")?;
        let start = time_arg(start_ms, "start")?;
        let end = time_arg(end_ms, "end")?;
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().list_messages_page(&cif, start, end, page, filter).await })
        })
    }

    /// A stream over every page of the interval (`end` null: now).
    #[napi]
    pub fn messages(
        &self,
        cif: String,
        start_ms: f64,
        end_ms: Option<f64>,
        filter: Option<String>,
    ) -> napi::Result<MessageStream> {
        let filter: Option<MessageFilter> = opt_code(filter, "filter")?;
        let start = time_arg(start_ms, "start")?;
        let end = end_ms.map(|ms| time_arg(ms, "end")).transpose()?;
        let stream = self.client.efactura().messages(&cif, start, end, filter);
        Ok(MessageStream {
            stream: Arc::new(tokio::sync::Mutex::new(stream)),
            serve_callbacks: self.serve_callbacks,
        })
    }

    #[napi]
    pub fn validate<'env>(
        &self,
        env: &'env Env,
        xml: Either<String, Buffer>,
        kind: Option<String>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let kind: DocumentType = code(kind.as_deref().unwrap_or("invoice"), "kind")?;
        let xml = bytes(xml);
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().validate(xml, kind).await })
        })
    }

    /// The PDF as a Buffer, or ANAF's validation report (JSON) when it would not render it.
    #[napi]
    pub fn to_pdf<'env>(
        &self,
        env: &'env Env,
        xml: Either<String, Buffer>,
        kind: Option<String>,
        validate: Option<bool>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let kind: DocumentType = code(kind.as_deref().unwrap_or("invoice"), "kind")?;
        let xml = bytes(xml);
        let client = self.client.clone();
        let work: Work = Box::pin(async move {
            match client.efactura().to_pdf(xml, kind, validate.unwrap_or(true)).await? {
                PdfOutcome::Pdf(pdf) => Ok(Out::Bytes(pdf.to_vec())),
                other => js_json(&other).map(Out::Json),
            }
        });
        Call::new(work, self.serve_callbacks).run(env, how)
    }

    #[napi]
    pub fn verify_signature<'env>(
        &self,
        env: &'env Env,
        invoice_xml: Either<String, Buffer>,
        signature_xml: Either<String, Buffer>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let (invoice, signature) = (bytes(invoice_xml), bytes(signature_xml));
        self.call(env, how, |c| {
            Box::pin(async move { c.efactura().verify_signature(invoice, signature).await })
        })
    }

    // --- e-Transport

    #[napi]
    pub fn etransport_upload<'env>(
        &self,
        env: &'env Env,
        xml: Either<String, Buffer>,
        cif: String,
        version: Option<u32>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let version = schema_version(version)?;
        let xml = bytes(xml);
        self.call(env, how, |c| {
            Box::pin(async move { c.etransport().upload(xml, &cif, version).await })
        })
    }

    #[napi]
    pub fn etransport_status<'env>(&self, env: &'env Env, upload_id: f64, how: How<'_>) -> napi::Result<Unknown<'env>> {
        let upload_id = id_arg(upload_id, "uploadId")?;
        self.call(env, how, |c| {
            Box::pin(async move { c.etransport().status(upload_id).await })
        })
    }

    #[napi]
    pub fn etransport_list<'env>(
        &self,
        env: &'env Env,
        cif: String,
        days: u32,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        self.call(env, how, |c| {
            Box::pin(async move { c.etransport().list(&cif, days).await })
        })
    }

    #[napi]
    pub fn etransport_info<'env>(
        &self,
        env: &'env Env,
        operator_cif: String,
        declarant_cif: Option<String>,
        uit: Option<String>,
        reference: Option<String>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let mut filter = InfoFilter::default();
        if let Some(cif) = declarant_cif {
            filter = filter.declarant_cif(cif);
        }
        if let Some(uit) = uit {
            filter = filter.uit(uit);
        }
        if let Some(reference) = reference {
            filter = filter.reference(reference);
        }
        self.call(env, how, |c| {
            Box::pin(async move { c.etransport().info(&operator_cif, filter).await })
        })
    }

    // --- public registries

    /// `date`: a calendar day, `YYYY-MM-DD` (today when null).
    #[napi]
    pub fn lookup_taxpayers<'env>(
        &self,
        env: &'env Env,
        cifs: Vec<String>,
        date: Option<String>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let date = day_arg(date)?;
        self.call(env, how, |c| {
            Box::pin(async move { c.public().lookup_taxpayers(&cifs, date).await })
        })
    }

    #[napi]
    pub fn lookup_efactura_register<'env>(
        &self,
        env: &'env Env,
        cifs: Vec<String>,
        date: Option<String>,
        how: How<'_>,
    ) -> napi::Result<Unknown<'env>> {
        let date = day_arg(date)?;
        self.call(env, how, |c| {
            Box::pin(async move { c.public().lookup_efactura_register(&cifs, date).await })
        })
    }
}

/// The benchmark's baseline (`run-bench`, feature `bench`): the same `status` call through
/// the core's blocking client, on this thread, against the same sandbox and connection pool
/// as the JavaScript calls it is compared with. Returns each call's time in microseconds.
#[cfg(feature = "bench")]
#[napi]
pub fn bench_rust_status(client: &NativeClient, upload_id: f64, rounds: u32) -> napi::Result<Vec<f64>> {
    let upload_id = id_arg(upload_id, "uploadId")?;
    let blocking = anaf_core::blocking::Client::new(client.client.clone());
    let mut times = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        let started = std::time::Instant::now();
        std::hint::black_box(blocking.efactura().status(upload_id).map_err(|e| js_error(&e))?);
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    Ok(times)
}

/// Checks a CIF (with or without "RO") and returns it normalised (digits only).
#[napi]
pub fn validate_cif(text: String) -> napi::Result<String> {
    Ok(anaf_core::Cif::parse(&text)
        .map_err(|e| js_error(&e))?
        .as_str()
        .to_owned())
}

// ---------------------------------------------------------------------------------------
// The sandbox

/// The embedded ANAF sandbox, for tests of the user's own code. Arguments and results are
/// the sandbox's JSON (snake_case); the wrapper converts.
#[napi]
pub struct NativeSandbox {
    sandbox: anaf_sandbox::Sandbox,
}

impl std::fmt::Debug for NativeSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeSandbox")
            .field("base_url", &self.sandbox.base_url())
            .finish()
    }
}

fn sandbox_error(error: anaf_sandbox::SandboxError) -> napi::Error {
    match error {
        anaf_sandbox::SandboxError::InvalidInput(message) => invalid("spec", message),
        other => js_error(&Error::internal(other.to_string())),
    }
}

fn from_json<T: serde::de::DeserializeOwned>(json: &str, name: &str) -> napi::Result<T> {
    serde_json::from_str(json).map_err(|e| invalid(name, format!("{name}: {e}")))
}

#[napi]
impl NativeSandbox {
    /// `settings`: `SandboxSettings` as JSON (null: the defaults).
    #[napi(constructor)]
    pub fn new(settings: Option<String>) -> napi::Result<NativeSandbox> {
        let settings: anaf_sandbox::SandboxSettings = match settings {
            Some(json) => from_json(&json, "settings")?,
            None => anaf_sandbox::SandboxSettings::default(),
        };
        Ok(NativeSandbox {
            sandbox: anaf_sandbox::Sandbox::start(settings.into_options()).map_err(sandbox_error)?,
        })
    }

    #[napi(getter)]
    pub fn base_url(&self) -> String {
        self.sandbox.base_url().to_owned()
    }

    #[napi]
    pub fn info(&self) -> napi::Result<String> {
        to_json(&self.sandbox.info())
    }

    #[napi]
    pub fn register_app(&self, spec: String) -> napi::Result<String> {
        to_json(
            &self
                .sandbox
                .register_app(from_json(&spec, "spec")?)
                .map_err(sandbox_error)?,
        )
    }

    #[napi]
    pub fn add_identity(&self, spec: String) -> napi::Result<String> {
        to_json(
            &self
                .sandbox
                .add_identity(from_json(&spec, "spec")?)
                .map_err(sandbox_error)?,
        )
    }

    #[napi]
    pub fn set_company(&self, spec: String) -> napi::Result<()> {
        self.sandbox
            .set_company(from_json(&spec, "spec")?)
            .map_err(sandbox_error)
    }

    /// A code without a browser; `request` null: the default application and identity.
    #[napi]
    pub fn authorize(&self, request: Option<String>) -> napi::Result<String> {
        let request: anaf_sandbox::AuthorizeRequest = match request {
            Some(json) => from_json(&json, "request")?,
            None => self.sandbox.default_authorize_request(),
        };
        Ok(self.sandbox.authorize(&request).map_err(sandbox_error)?.code)
    }

    #[napi]
    pub fn inject_fault(&self, spec: String) -> napi::Result<()> {
        self.sandbox
            .inject_fault(from_json(&spec, "spec")?)
            .map_err(sandbox_error)
    }

    #[napi]
    pub fn clear_faults(&self) {
        self.sandbox.clear_faults();
    }

    #[napi]
    pub fn advance_clock(&self, seconds: f64) -> napi::Result<()> {
        let by =
            Duration::try_from_secs_f64(seconds).map_err(|_| invalid("seconds", "seconds must be a number >= 0"))?;
        self.sandbox.advance_clock(by);
        Ok(())
    }

    #[napi]
    pub fn uploads(&self, cif: Option<String>) -> napi::Result<String> {
        to_json(&self.sandbox.uploads(cif.as_deref()))
    }

    #[napi]
    pub fn requests(&self) -> napi::Result<String> {
        to_json(&self.sandbox.requests())
    }

    #[napi]
    pub fn seed_received_invoices(&self, request: String) -> napi::Result<String> {
        let request: anaf_sandbox::SeedRequest = from_json(&request, "request")?;
        to_json(&self.sandbox.seed_received_invoices(&request).map_err(sandbox_error)?)
    }

    #[napi]
    pub fn stop(&self) {
        self.sandbox.stop();
    }

    #[napi]
    pub fn sample_invoice(number: String, seller_cif: String, buyer_cif: String) -> String {
        anaf_sandbox::samples::invoice_xml(&anaf_sandbox::samples::InvoiceSpec::new(
            &number,
            &seller_cif,
            &buyer_cif,
        ))
    }

    #[napi]
    pub fn sample_transport(declarant_cif: String, reference: String) -> String {
        anaf_sandbox::samples::transport_notification_xml(&anaf_sandbox::samples::TransportSpec::new(
            &declarant_cif,
            &reference,
        ))
    }
}

/// The version of the native addon (the crate's).
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
