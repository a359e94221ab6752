//! `anaf._native`: the core's operations for Python. Thin: arguments in, the core's
//! serialisable results out (through serde, as Python dicts, lists and strings), errors as
//! one exception class per kind. The typed result classes live in `python/anaf/`.
//!
//! Blocking methods release the GIL for the whole call; `*_async` methods return asyncio
//! awaitables whose cancellation cancels the call in the core (an upload cancelled after it
//! was sent is reported as outcome unknown, like everywhere else).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anaf_core::efactura::{DocumentType, MessageFilter, PdfOutcome, Standard, UploadOptions, WaitOptions};
use anaf_core::etransport::{InfoFilter, SchemaVersion};
use anaf_core::{Application, CallbackTokenStore, CancellationToken, Error, ErrorKind, TokenSet};
use chrono::{DateTime, NaiveDate, Utc};
use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

pyo3::create_exception!(
    _native,
    AnafError,
    PyException,
    "Base class of every error of the anaf client."
);
pyo3::create_exception!(_native, UnauthorizedError, AnafError, "HTTP 401: log in again.");
pyo3::create_exception!(
    _native,
    ForbiddenError,
    AnafError,
    "HTTP 403: no right on this service."
);
pyo3::create_exception!(_native, RateLimitedError, AnafError, "HTTP 429: see `retry_after`.");
pyo3::create_exception!(
    _native,
    DailyLimitError,
    AnafError,
    "One of ANAF's daily limits; see `limit`."
);
pyo3::create_exception!(_native, NoCifRightError, AnafError, "No SPV right on this CIF.");
pyo3::create_exception!(_native, NoCifRightsError, AnafError, "No SPV right on any CIF.");
pyo3::create_exception!(
    _native,
    NotFoundError,
    AnafError,
    "No such upload, message or declaration."
);
pyo3::create_exception!(_native, DownloadExpiredError, AnafError, "Older than ANAF's 60 days.");
pyo3::create_exception!(
    _native,
    DuplicateInvoiceError,
    AnafError,
    "ANAF already holds this invoice."
);
pyo3::create_exception!(
    _native,
    WafRejectedError,
    AnafError,
    "ANAF's web firewall refused the request."
);
pyo3::create_exception!(
    _native,
    InvalidInputError,
    AnafError,
    "A refused parameter or document; see `field`."
);
pyo3::create_exception!(_native, OAuthError, AnafError, "The identity provider refused.");
pyo3::create_exception!(_native, TimeoutError, AnafError, "The request timed out.");
pyo3::create_exception!(_native, TransportError, AnafError, "The connection failed.");
pyo3::create_exception!(
    _native,
    UnexpectedResponseError,
    AnafError,
    "An answer the client does not understand."
);
pyo3::create_exception!(
    _native,
    QuotaExhaustedError,
    AnafError,
    "The client's own budget is spent."
);
pyo3::create_exception!(_native, CancelledError, AnafError, "The call was cancelled.");
pyo3::create_exception!(_native, InternalError, AnafError, "A failure of the library itself.");

/// The core's error as the exception of its kind, with every detail as an attribute.
fn py_error(error: Error) -> PyErr {
    let message = error.to_string();
    let err = match error.kind() {
        ErrorKind::Unauthorized => UnauthorizedError::new_err(message),
        ErrorKind::Forbidden => ForbiddenError::new_err(message),
        ErrorKind::RateLimited => RateLimitedError::new_err(message),
        ErrorKind::DailyLimit => DailyLimitError::new_err(message),
        ErrorKind::NoCifRight => NoCifRightError::new_err(message),
        ErrorKind::NoCifRights => NoCifRightsError::new_err(message),
        ErrorKind::NotFound => NotFoundError::new_err(message),
        ErrorKind::DownloadExpired => DownloadExpiredError::new_err(message),
        ErrorKind::DuplicateInvoice => DuplicateInvoiceError::new_err(message),
        ErrorKind::WafRejected => WafRejectedError::new_err(message),
        ErrorKind::InvalidInput => InvalidInputError::new_err(message),
        ErrorKind::OAuth => OAuthError::new_err(message),
        ErrorKind::Timeout => TimeoutError::new_err(message),
        ErrorKind::Transport => TransportError::new_err(message),
        ErrorKind::UnexpectedResponse => UnexpectedResponseError::new_err(message),
        ErrorKind::QuotaExhausted => QuotaExhaustedError::new_err(message),
        ErrorKind::Cancelled => CancelledError::new_err(message),
        _ => InternalError::new_err(message),
    };
    Python::attach(|py| {
        let value = err.value(py);
        // The error's JSON form has every detail under a fixed name: one source for them all.
        if let Ok(details) = pythonize::pythonize(py, &error) {
            let _ = value.setattr("details", &details);
            if let Ok(dict) = details.cast::<pyo3::types::PyDict>() {
                for (key, item) in dict.iter() {
                    if let Ok(name) = key.extract::<String>()
                        && name != "text"
                        && name != "message"
                    {
                        let _ = value.setattr(name.as_str(), item);
                    }
                }
            }
        }
        let retry_after = error.retry_after().map(|d| d.as_secs_f64());
        let _ = value.setattr("retry_after", retry_after);
        let _ = value.setattr("code", error.kind().code());
    });
    err
}

fn to_py(py: Python<'_>, value: &impl serde::Serialize) -> PyResult<Py<PyAny>> {
    pythonize::pythonize(py, value)
        .map(Bound::unbind)
        .map_err(|e| PyRuntimeError::new_err(format!("result to Python: {e}")))
}

/// What a finished call turns into for Python (run with the GIL, after the work).
type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;
type Work = std::pin::Pin<Box<dyn Future<Output = Result<Convert, Error>> + Send>>;

/// One operation of the core, not started yet. Python runs it blocking (`wait`, the GIL
/// released throughout) or as an asyncio awaitable (`start`): each operation is written once,
/// so `Client` and `AsyncClient` cannot drift apart.
#[pyclass(frozen, module = "anaf._native")]
struct Call {
    work: std::sync::Mutex<Option<Work>>,
}

impl Call {
    fn new<T: Send + 'static>(
        work: impl Future<Output = Result<T, Error>> + Send + 'static,
        convert: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> Call {
        let work: Work = Box::pin(async move {
            let value = work.await?;
            Ok(Box::new(move |py: Python<'_>| convert(py, value)) as Convert)
        });
        Call {
            work: std::sync::Mutex::new(Some(work)),
        }
    }

    fn take(&self) -> PyResult<Work> {
        self.work
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this call was already run"))
    }
}

#[pymethods]
impl Call {
    /// Runs the call on the core's runtime and waits, with the GIL released.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let work = self.take()?;
        let convert = py.detach(|| anaf_core::runtime::block_on(work)).map_err(py_error)?;
        convert(py)
    }

    /// Starts the call and returns an asyncio future of the running loop; cancelling the
    /// future fires the core's cancellation (so an upload reports what it had done). The work
    /// runs on the core's runtime; its outcome reaches the loop through the loop's `waker`
    /// (no GIL on the runtime's side, converted on the loop), or without one (Windows'
    /// default loop cannot watch a socket) through `call_soon_threadsafe`.
    #[pyo3(signature = (waker=None))]
    fn start<'py>(&self, py: Python<'py>, waker: Option<&LoopWaker>) -> PyResult<Bound<'py, PyAny>> {
        static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let work = self.take()?;
        let event_loop = GET_RUNNING_LOOP.import(py, "asyncio", "get_running_loop")?.call0()?;
        let cancel = CancellationToken::new();
        let future = Bound::new(
            py,
            CallFuture {
                event_loop: event_loop.clone().unbind(),
                cancel: cancel.clone(),
                state: std::sync::Mutex::new(FutureState::default()),
            },
        )?;
        let runtime = anaf_core::runtime::handle().map_err(py_error)?;
        let mut task: Work = Box::pin(async move { anaf_core::cancellable(&cancel, work).await });
        // The first step runs here, the GIL released: the request leaves at once, and a call
        // that needs no I/O (the token status) is done without a thread switch. The runtime
        // then owns the task and polls it again before anything else.
        let first = py.detach(|| {
            let _context = runtime.enter();
            task.as_mut()
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        });
        if let std::task::Poll::Ready(outcome) = first {
            CallFuture::settle(&future, outcome)?;
            return Ok(future.into_any());
        }
        let target = future.clone().unbind();
        match waker {
            Some(waker) => {
                let inbox = waker.inbox.clone();
                runtime.spawn(async move { inbox.deliver(target, task.await) });
            }
            None => {
                let event_loop = event_loop.unbind();
                runtime.spawn(async move {
                    let outcome = task.await;
                    Python::attach(|py| {
                        let settle = Settle(std::sync::Mutex::new(Some((target, outcome))));
                        // A loop already closed (the program moved on) has nobody to tell.
                        let _ = event_loop.call_method1(py, intern!(py, "call_soon_threadsafe"), (settle,));
                    });
                });
            }
        }
        Ok(future.into_any())
    }
}

/// The asyncio future of a call, implemented here rather than taken from `loop.create_future()`:
/// settled from a callback of the loop's own (the waker's reader, or `call_soon_threadsafe`),
/// it runs its done-callbacks at once, so the awaiting task resumes in the same turn of the
/// loop instead of the next (one turn of asyncio's own code saved per call, BENCHMARKS.md).
/// Otherwise it behaves as `asyncio.Future`: `asyncio.isfuture` accepts it, `cancel()`
/// schedules the callbacks on the loop (and cancels the call in the core), and `gather`,
/// `wait_for`, `shield` and friends work with it.
#[pyclass(frozen, module = "anaf._native")]
struct CallFuture {
    event_loop: Py<PyAny>,
    cancel: CancellationToken,
    state: std::sync::Mutex<FutureState>,
}

#[derive(Default)]
struct FutureState {
    /// `Ok(result)` or `Err(exception)`; a cancelled future holds its CancelledError.
    outcome: Option<Result<Py<PyAny>, Py<PyAny>>>,
    cancelled: bool,
    callbacks: Vec<(Py<PyAny>, Option<Py<PyAny>>)>,
    /// asyncio's `_asyncio_future_blocking`: set while a task waits on this future.
    blocking: bool,
}

impl CallFuture {
    fn lock(&self) -> std::sync::MutexGuard<'_, FutureState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Settles with the call's outcome (converted here, on the loop) and runs the callbacks at
    /// once. Only from a callback of the loop itself, where no task is running, or before the
    /// future was handed out (no callbacks yet).
    fn settle(slf: &Bound<'_, CallFuture>, outcome: Result<Convert, Error>) -> PyResult<()> {
        let py = slf.py();
        if slf.get().lock().outcome.is_some() {
            return Ok(()); // cancelled meanwhile
        }
        let outcome = match outcome.map_err(py_error).and_then(|convert| convert(py)) {
            Ok(value) => Ok(value),
            Err(error) => Err(error.into_value(py).into_any()),
        };
        let callbacks = {
            let mut state = slf.get().lock();
            state.outcome = Some(outcome);
            std::mem::take(&mut state.callbacks)
        };
        for (callback, context) in callbacks {
            let ran = match &context {
                Some(context) => context.call_method1(py, intern!(py, "run"), (callback.clone_ref(py), slf)),
                None => callback.call1(py, (slf,)),
            };
            if let Err(error) = ran {
                // As asyncio reports a callback's error: to the loop's exception handler.
                let report = pyo3::types::PyDict::new(py);
                report.set_item("message", "Exception in a callback of an anaf call")?;
                report.set_item("exception", error.into_value(py))?;
                report.set_item("future", slf)?;
                slf.get()
                    .event_loop
                    .call_method1(py, intern!(py, "call_exception_handler"), (report,))?;
            }
        }
        Ok(())
    }

    fn outcome(&self, py: Python<'_>) -> PyResult<Result<Py<PyAny>, Py<PyAny>>> {
        let state = self.lock();
        match &state.outcome {
            Some(Ok(value)) => Ok(Ok(value.clone_ref(py))),
            Some(Err(error)) => Ok(Err(error.clone_ref(py))),
            None => {
                let invalid = py
                    .import(intern!(py, "asyncio"))?
                    .getattr(intern!(py, "InvalidStateError"))?;
                Err(PyErr::from_value(invalid.call1(("Result is not set.",))?))
            }
        }
    }
}

#[pymethods]
impl CallFuture {
    #[getter(_asyncio_future_blocking)]
    fn asyncio_future_blocking(&self) -> bool {
        self.lock().blocking
    }

    #[setter(_asyncio_future_blocking)]
    fn set_asyncio_future_blocking(&self, blocking: bool) {
        self.lock().blocking = blocking;
    }

    fn get_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    fn done(&self) -> bool {
        self.lock().outcome.is_some()
    }

    fn cancelled(&self) -> bool {
        self.lock().cancelled
    }

    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.outcome(py)?
            .map_err(|error| PyErr::from_value(error.into_bound(py)))
    }

    fn exception(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.outcome(py)? {
            // asyncio: a cancelled future raises its CancelledError here too.
            Err(error) if self.cancelled() => Err(PyErr::from_value(error.into_bound(py))),
            Err(error) => Ok(Some(error)),
            Ok(_) => Ok(None),
        }
    }

    #[pyo3(signature = (callback, *, context=None))]
    fn add_done_callback(slf: &Bound<'_, Self>, callback: Py<PyAny>, context: Option<Py<PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let mut state = slf.get().lock();
        if state.outcome.is_none() {
            state.callbacks.push((callback, context));
            return Ok(());
        }
        drop(state);
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("context", context)?;
        slf.get()
            .event_loop
            .call_method(py, intern!(py, "call_soon"), (callback, slf), Some(&kwargs))?;
        Ok(())
    }

    fn remove_done_callback(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut state = self.lock();
        let before = state.callbacks.len();
        let mut kept = Vec::with_capacity(before);
        for entry in std::mem::take(&mut state.callbacks) {
            if !entry.0.bind(py).eq(callback)? {
                kept.push(entry);
            }
        }
        state.callbacks = kept;
        Ok(before - state.callbacks.len())
    }

    /// Cancels the future and the call in the core; the callbacks are scheduled on the loop,
    /// as asyncio does (a task may be the one cancelling).
    #[pyo3(signature = (msg=None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Py<PyAny>>) -> PyResult<bool> {
        let py = slf.py();
        let cancelled_error = py
            .import(intern!(py, "asyncio"))?
            .getattr(intern!(py, "CancelledError"))?;
        let error = match msg {
            Some(msg) => cancelled_error.call1((msg,))?,
            None => cancelled_error.call0()?,
        };
        let callbacks = {
            let mut state = slf.get().lock();
            if state.outcome.is_some() {
                return Ok(false);
            }
            state.outcome = Some(Err(error.unbind()));
            state.cancelled = true;
            std::mem::take(&mut state.callbacks)
        };
        slf.get().cancel.cancel();
        let event_loop = slf.get().event_loop.bind(py);
        for (callback, context) in callbacks {
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("context", context)?;
            event_loop.call_method(intern!(py, "call_soon"), (callback, slf), Some(&kwargs))?;
        }
        Ok(true)
    }

    fn __await__(slf: Py<Self>) -> CallFutureIter {
        CallFutureIter {
            future: slf,
            yielded: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn __iter__(slf: Py<Self>) -> CallFutureIter {
        Self::__await__(slf)
    }
}

/// `await` on a `CallFuture`: yields the future to the task once, then returns its result.
#[pyclass(frozen, module = "anaf._native")]
struct CallFutureIter {
    future: Py<CallFuture>,
    yielded: std::sync::atomic::AtomicBool,
}

#[pymethods]
impl CallFutureIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let future = self.future.get();
        if !future.done() {
            if self.yielded.swap(true, std::sync::atomic::Ordering::Relaxed) {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "await wasn't used with future",
                ));
            }
            future.lock().blocking = true;
            return Ok(self.future.clone_ref(py).into_any());
        }
        let value = future.result(py)?;
        Err(pyo3::exceptions::PyStopIteration::new_err((value,)))
    }
}

/// A call's outcome on its way to the loop through `call_soon_threadsafe`.
#[pyclass(frozen, module = "anaf._native")]
struct Settle(std::sync::Mutex<Option<Finished>>);

/// A finished call on its way to its future.
type Finished = (Py<CallFuture>, Result<Convert, Error>);

#[pymethods]
impl Settle {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        match taken {
            Some((future, outcome)) => CallFuture::settle(future.bind(py), outcome),
            None => Ok(()),
        }
    }
}

/// Outcomes of calls waiting for their event loop, and the socket that wakes it. A socket,
/// not `call_soon_threadsafe`: that takes the GIL on the runtime's thread just as the loop
/// wants it back (BENCHMARKS.md, "Python").
struct Inbox {
    ready: std::sync::Mutex<Vec<Finished>>,
    #[cfg(unix)]
    wake: std::os::unix::net::UnixStream,
}

impl Inbox {
    fn deliver(&self, future: Py<CallFuture>, outcome: Result<Convert, Error>) {
        let was_empty = {
            let mut ready = self.ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            ready.push((future, outcome));
            ready.len() == 1
        };
        // One byte per batch: the loop takes every ready call when it wakes. A full socket
        // already has the loop awake, so a refused write loses nothing.
        #[cfg(unix)]
        if was_empty {
            use std::io::Write;
            let _ = (&self.wake).write(&[1]);
        }
        #[cfg(not(unix))]
        let _ = was_empty;
    }
}

/// An event loop's end of the calls it awaits: `fileno()` for `loop.add_reader`, and
/// `on_readable` as the reader. Unix only (Windows' default loop has no `add_reader`).
#[pyclass(frozen, module = "anaf._native")]
struct LoopWaker {
    inbox: Arc<Inbox>,
    #[cfg(unix)]
    readable: std::os::unix::net::UnixStream,
}

#[pymethods]
impl LoopWaker {
    #[new]
    fn new() -> PyResult<LoopWaker> {
        #[cfg(unix)]
        {
            let (readable, wake) = std::os::unix::net::UnixStream::pair()?;
            readable.set_nonblocking(true)?;
            wake.set_nonblocking(true)?;
            Ok(LoopWaker {
                inbox: Arc::new(Inbox {
                    ready: std::sync::Mutex::new(Vec::new()),
                    wake,
                }),
                readable,
            })
        }
        #[cfg(not(unix))]
        Err(pyo3::exceptions::PyNotImplementedError::new_err(
            "the socket waker is Unix only",
        ))
    }

    fn fileno(&self) -> i64 {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            i64::from(self.readable.as_raw_fd())
        }
        #[cfg(not(unix))]
        -1
    }

    /// Settles every call that finished since the last wake, converting its result here.
    fn on_readable(&self, py: Python<'_>) -> PyResult<()> {
        #[cfg(unix)]
        {
            use std::io::Read;
            let mut sink = [0u8; 256];
            while matches!((&self.readable).read(&mut sink), Ok(n) if n > 0) {}
        }
        let ready = std::mem::take(
            &mut *self
                .inbox
                .ready
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (future, outcome) in ready {
            // One call failing to settle must not strand the others.
            if let Err(error) = CallFuture::settle(future.bind(py), outcome) {
                error.write_unraisable(py, Some(future.bind(py)));
            }
        }
        Ok(())
    }
}

fn json_out<T: serde::Serialize>(py: Python<'_>, value: T) -> PyResult<Py<PyAny>> {
    to_py(py, &value)
}

fn code<T: std::str::FromStr<Err = Error>>(text: &str, name: &str) -> PyResult<T> {
    text.parse()
        .map_err(|e: Error| py_error(Error::invalid_input(name, e.to_string())))
}

fn opt_code<T: std::str::FromStr<Err = Error>>(text: Option<&str>, name: &str) -> PyResult<Option<T>> {
    text.map(|t| code(t, name)).transpose()
}

fn utc(time: DateTime<chrono::FixedOffset>) -> DateTime<Utc> {
    time.with_timezone(&Utc)
}

/// The host's Python callables as the core's token store. They run on the core's blocking
/// pool with the GIL taken there (every blocking call released it).
fn python_store(
    load: Py<PyAny>,
    save: Py<PyAny>,
    clear: Option<Py<PyAny>>,
    sharing_key: Option<String>,
) -> CallbackTokenStore {
    let describe = |e: PyErr| Python::attach(|py| e.value(py).to_string());
    let mut store = CallbackTokenStore::new(
        move || {
            Python::attach(|py| {
                let loaded = load.call0(py).map_err(describe)?;
                if loaded.is_none(py) {
                    return Ok(None);
                }
                let json: String = loaded.extract(py).map_err(describe)?;
                TokenSet::from_json(&json).map(Some).map_err(|e| e.to_string())
            })
        },
        move |tokens| Python::attach(|py| save.call1(py, (tokens.to_json(),)).map(drop).map_err(describe)),
    );
    if let Some(clear) = clear {
        store = store.with_clear(move || Python::attach(|py| clear.call0(py).map(drop).map_err(describe)));
    }
    if let Some(key) = sharing_key {
        store = store.with_sharing_key(key);
    }
    store
}

/// An answer archive ("descarcare"): the ZIP as received, and its entries on demand.
#[pyclass(frozen, module = "anaf._native")]
struct Archive {
    inner: anaf_core::efactura::Archive,
}

#[pymethods]
impl Archive {
    /// Opens a saved ZIP from its bytes.
    #[staticmethod]
    fn from_bytes(zip: Vec<u8>) -> PyResult<Archive> {
        Ok(Archive {
            inner: anaf_core::efactura::Archive::from_bytes(zip).map_err(py_error)?,
        })
    }

    /// Opens a saved ZIP file.
    #[staticmethod]
    fn open(path: std::path::PathBuf) -> PyResult<Archive> {
        Ok(Archive {
            inner: anaf_core::efactura::Archive::open(path).map_err(py_error)?,
        })
    }

    /// The ZIP exactly as ANAF sent it.
    #[getter]
    fn zip<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.zip_bytes())
    }

    #[getter]
    fn upload_id(&self) -> Option<u64> {
        self.inner.upload_id()
    }

    #[getter]
    fn document_name(&self) -> &str {
        self.inner.document_name()
    }

    #[getter]
    fn signature_name(&self) -> &str {
        self.inner.signature_name()
    }

    /// The invoice (or ANAF's error document), as in the archive.
    fn document<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.document().map_err(py_error)?))
    }

    /// ANAF's signature of the document.
    fn signature<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.signature().map_err(py_error)?))
    }

    /// ANAF's reasons for a `nok` as a dict (`upload_id`, `seller_cif`, `messages`), or None.
    fn error_report(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.inner.error_report().map_err(py_error)?)
    }

    /// The invoice's main fields as a dict (`number`, `issue_date`, `seller`, `buyer`, the
    /// totals as decimal strings, `lines`...), or None for ANAF's error document.
    fn invoice_summary(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.inner.invoice_summary().map_err(py_error)?)
    }

    /// The error report as the exception it stands for (e.g. `DuplicateInvoiceError` with
    /// `previous_upload_id`), or None.
    fn error(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.inner.error_report().map_err(py_error)? {
            Some(report) => Ok(py_error(report.to_error()).into_value(py).into_any()),
            None => Ok(py.None()),
        }
    }

    fn __repr__(&self) -> String {
        let upload_id = self
            .inner
            .upload_id()
            .map_or_else(|| "None".to_owned(), |id| id.to_string());
        format!(
            "Archive(upload_id={upload_id}, document_name={:?}, {} bytes)",
            self.inner.document_name(),
            self.inner.zip_bytes().len()
        )
    }
}

fn pdf_out(py: Python<'_>, outcome: PdfOutcome) -> PyResult<Py<PyAny>> {
    match outcome {
        PdfOutcome::Pdf(pdf) => Ok(PyBytes::new(py, &pdf).into_any().unbind()),
        other => to_py(py, &other),
    }
}

/// The client: every operation, blocking (`name`) and asyncio (`name_async`).
#[pyclass(frozen, module = "anaf._native")]
struct NativeClient {
    client: anaf_core::Client,
}

#[pymethods]
impl NativeClient {
    #[new]
    #[pyo3(signature = (*, environment=None, base_url=None, client_id=None, client_secret=None,
        redirect_uri=None, token_file=None, token_load=None, token_save=None, token_clear=None,
        token_sharing_key=None, on_token_event=None, requests_per_minute=None, limit_requests=true,
        timeout=None, connect_timeout=None, user_agent=None, proxy=None, max_retries=None,
        state_database=None, resend_after=None, daily_limit=None, database_tokens=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        environment: Option<&str>,
        base_url: Option<&str>,
        client_id: Option<String>,
        client_secret: Option<String>,
        redirect_uri: Option<String>,
        token_file: Option<std::path::PathBuf>,
        token_load: Option<Py<PyAny>>,
        token_save: Option<Py<PyAny>>,
        token_clear: Option<Py<PyAny>>,
        token_sharing_key: Option<String>,
        on_token_event: Option<Py<PyAny>>,
        requests_per_minute: Option<u32>,
        limit_requests: bool,
        timeout: Option<f64>,
        connect_timeout: Option<f64>,
        user_agent: Option<String>,
        proxy: Option<String>,
        max_retries: Option<u32>,
        state_database: Option<String>,
        resend_after: Option<f64>,
        daily_limit: Option<u32>,
        database_tokens: Option<String>,
    ) -> PyResult<NativeClient> {
        let mut builder = anaf_core::Client::builder();
        if let Some(environment) = environment {
            builder = builder.environment(code(environment, "environment")?);
        }
        if let Some(base_url) = base_url {
            builder = builder.base_url(base_url).map_err(py_error)?;
        }
        match (client_id, client_secret, redirect_uri) {
            (Some(id), Some(secret), Some(redirect)) => {
                builder = builder.application(Application::new(id, secret, redirect))
            }
            (None, None, None) => {}
            _ => {
                return Err(py_error(Error::invalid_input(
                    "client_id",
                    "give client_id, client_secret and redirect_uri together",
                )));
            }
        }
        match (token_file, token_load, token_save) {
            (Some(path), None, None) => {
                builder = builder.shared_token_store(Arc::new(anaf_core::FileTokenStore::new(path)));
            }
            (None, Some(load), Some(save)) => {
                builder =
                    builder.shared_token_store(Arc::new(python_store(load, save, token_clear, token_sharing_key)));
            }
            (None, None, None) => {}
            _ => {
                return Err(py_error(Error::invalid_input(
                    "token_store",
                    "give token_file, or token_load and token_save, not both",
                )));
            }
        }
        if let Some(hook) = on_token_event {
            builder = builder.on_token_event(move |event| {
                Python::attach(|py| {
                    if let Ok(event) = pythonize::pythonize(py, event)
                        && let Err(e) = hook.call1(py, (event,))
                    {
                        e.write_unraisable(py, Some(hook.bind(py)));
                    }
                })
            });
        }
        if !limit_requests {
            builder = builder.requests_per_minute(None);
        } else if let Some(rpm) = requests_per_minute {
            builder = builder.requests_per_minute(Some(rpm));
        }
        if let Some(seconds) = timeout {
            builder = builder.timeout(seconds_arg(seconds, "timeout")?);
        }
        if let Some(seconds) = connect_timeout {
            builder = builder.connect_timeout(seconds_arg(seconds, "connect_timeout")?);
        }
        if let Some(agent) = user_agent {
            builder = builder.user_agent(agent);
        }
        if let Some(proxy) = proxy {
            builder = builder.proxy(proxy);
        }
        if let Some(retries) = max_retries {
            let mut policy = anaf_core::RetryPolicy::default();
            policy.max_attempts = retries.saturating_add(1);
            builder = builder.retry_policy(policy);
        }
        if let Some(url) = state_database {
            // Opens and migrates the database now, without the GIL.
            let database = py
                .detach(|| anaf_core::runtime::block_on(anaf_core::state::Database::open(&url)))
                .map_err(py_error)?;
            builder = builder.state(database);
        }
        if let Some(seconds) = resend_after {
            builder = builder.resend_after(seconds_arg(seconds, "resend_after")?);
        }
        if let Some(limit) = daily_limit {
            builder = builder.daily_limits(anaf_core::quota::DailyLimits::all(limit));
        }
        if let Some(name) = database_tokens {
            builder = builder.database_tokens(name);
        }
        Ok(NativeClient {
            client: builder.build().map_err(py_error)?,
        })
    }

    // --- OAuth

    #[pyo3(signature = (state=None))]
    fn authorization_url(&self, py: Python<'_>, state: Option<&str>) -> PyResult<Py<PyAny>> {
        json_out(py, self.client.oauth().authorization_url(state).map_err(py_error)?)
    }

    fn exchange_code(&self, code: String) -> Call {
        let client = self.client.clone();
        Call::new(
            async move { client.oauth().exchange_code(&code).await.map(|t| t.info()) },
            json_out,
        )
    }

    fn complete_authorization(&self, redirected_url: String, expected_state: String) -> Call {
        let client = self.client.clone();
        Call::new(
            async move {
                client
                    .oauth()
                    .complete_authorization(&redirected_url, &expected_state)
                    .await
                    .map(|t| t.info())
            },
            json_out,
        )
    }

    fn refresh(&self) -> Call {
        let client = self.client.clone();
        Call::new(
            async move { client.oauth().refresh().await.map(|t| t.info()) },
            json_out,
        )
    }

    fn revoke(&self) -> Call {
        let client = self.client.clone();
        Call::new(async move { client.oauth().revoke().await }, json_out)
    }

    fn token_status(&self) -> Call {
        let client = self.client.clone();
        Call::new(async move { client.oauth().token_status().await }, json_out)
    }

    /// The tokens WITH their secrets, as the JSON a store saves (None when logged out).
    fn tokens_json(&self) -> Call {
        let client = self.client.clone();
        Call::new(
            async move { client.oauth().tokens().await.map(|t| t.map(|t| t.to_json())) },
            json_out,
        )
    }

    fn set_tokens_json(&self, tokens_json: String) -> PyResult<Call> {
        let tokens = TokenSet::from_json(&tokens_json).map_err(py_error)?;
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.oauth().set_tokens(tokens).await },
            json_out,
        ))
    }

    fn save_tokens(&self) -> Call {
        let client = self.client.clone();
        Call::new(async move { client.oauth().save_tokens().await }, json_out)
    }

    fn clear_tokens(&self) -> Call {
        let client = self.client.clone();
        Call::new(async move { client.oauth().clear_tokens().await }, json_out)
    }

    #[pyo3(signature = (*, open_browser=true, timeout=300.0, on_url=None))]
    fn login_interactive(&self, open_browser: bool, timeout: f64, on_url: Option<Py<PyAny>>) -> PyResult<Call> {
        let options = login_options(open_browser, timeout, on_url)?;
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.oauth().login_interactive(options).await.map(|t| t.info()) },
            json_out,
        ))
    }

    fn hello(&self, name: String) -> Call {
        let client = self.client.clone();
        Call::new(async move { client.hello(&name).await }, json_out)
    }

    // --- e-Factura

    #[pyo3(signature = (xml, cif, *, standard="ubl", external=false, self_billed=false, enforcement=false, b2c=false))]
    #[allow(clippy::too_many_arguments)]
    fn upload(
        &self,
        xml: Vec<u8>,
        cif: String,
        standard: &str,
        external: bool,
        self_billed: bool,
        enforcement: bool,
        b2c: bool,
    ) -> PyResult<Call> {
        let options = upload_options(standard, external, self_billed, enforcement, b2c)?;
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.efactura().upload(xml, &cif, options).await },
            json_out,
        ))
    }

    #[pyo3(signature = (xml, cif, *, standard="ubl", external=false, self_billed=false, enforcement=false, b2c=false))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        xml: Vec<u8>,
        cif: String,
        standard: &str,
        external: bool,
        self_billed: bool,
        enforcement: bool,
        b2c: bool,
    ) -> PyResult<Call> {
        let options = upload_options(standard, external, self_billed, enforcement, b2c)?;
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.efactura().submit(xml, &cif, options).await },
            json_out,
        ))
    }

    fn resume_submissions(&self) -> Call {
        let client = self.client.clone();
        Call::new(async move { client.efactura().resume_submissions().await }, json_out)
    }

    #[pyo3(signature = (cif=None, state=None, limit=None))]
    fn submissions(&self, cif: Option<String>, state: Option<&str>, limit: Option<u32>) -> PyResult<Call> {
        let mut query = anaf_core::state::SubmissionQuery::new();
        if let Some(cif) = cif {
            query = query.cif(cif);
        }
        if let Some(state) = state {
            query = query.state(code(state, "state")?);
        }
        if let Some(limit) = limit {
            query = query.limit(limit);
        }
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.efactura().submissions(&query).await },
            json_out,
        ))
    }

    fn quota_usage(&self) -> Call {
        let client = self.client.clone();
        Call::new(async move { client.quota_usage().await }, json_out)
    }

    /// Archives every message of `cif` into `folder`; `on_progress` gets each count (a dict),
    /// on a library thread, while the sync runs.
    #[pyo3(signature = (cif, folder, *, filter=None, since=None, pdf=false, on_progress=None))]
    fn sync(
        &self,
        cif: String,
        folder: std::path::PathBuf,
        filter: Option<&str>,
        since: Option<DateTime<chrono::FixedOffset>>,
        pdf: bool,
        on_progress: Option<Py<PyAny>>,
    ) -> PyResult<Call> {
        let mut options = anaf_core::efactura::SyncOptions::new().pdf(pdf);
        if let Some(filter) = opt_code::<MessageFilter>(filter, "filter")? {
            options = options.filter(filter);
        }
        if let Some(since) = since {
            options = options.since(utc(since));
        }
        if let Some(hook) = on_progress {
            options = options.on_progress(move |progress| {
                Python::attach(|py| {
                    if let Ok(progress) = pythonize::pythonize(py, progress)
                        && let Err(e) = hook.call1(py, (progress,))
                    {
                        e.write_unraisable(py, Some(hook.bind(py)));
                    }
                })
            });
        }
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.efactura().sync(&cif, &folder, options).await },
            json_out,
        ))
    }

    #[pyo3(signature = (xml, cif, *, standard="ubl", external=false, self_billed=false, enforcement=false, b2c=false,
        timeout=None, first_poll=None, max_interval=None, max_polls=None))]
    #[allow(clippy::too_many_arguments)]
    fn upload_and_wait(
        &self,
        xml: Vec<u8>,
        cif: String,
        standard: &str,
        external: bool,
        self_billed: bool,
        enforcement: bool,
        b2c: bool,
        timeout: Option<f64>,
        first_poll: Option<f64>,
        max_interval: Option<f64>,
        max_polls: Option<u32>,
    ) -> PyResult<Call> {
        let options = upload_options(standard, external, self_billed, enforcement, b2c)?;
        let wait = wait_options(timeout, first_poll, max_interval, max_polls)?;
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.efactura().upload_and_wait(xml, &cif, options, wait).await },
            json_out,
        ))
    }

    fn status(&self, upload_id: u64) -> Call {
        let client = self.client.clone();
        Call::new(async move { client.efactura().status(upload_id).await }, json_out)
    }

    fn download(&self, download_id: u64) -> Call {
        let client = self.client.clone();
        Call::new(
            async move { client.efactura().download(download_id).await },
            |py, inner| Ok(Py::new(py, Archive { inner })?.into_any()),
        )
    }

    #[pyo3(signature = (cif, days, filter=None))]
    fn list_messages(&self, cif: String, days: u32, filter: Option<&str>) -> PyResult<Call> {
        let filter: Option<MessageFilter> = opt_code(filter, "filter")?;
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.efactura().list_messages(&cif, days, filter).await },
            json_out,
        ))
    }

    #[pyo3(signature = (cif, start, end, page, filter=None))]
    fn list_messages_page(
        &self,
        cif: String,
        start: DateTime<chrono::FixedOffset>,
        end: DateTime<chrono::FixedOffset>,
        page: u32,
        filter: Option<&str>,
    ) -> PyResult<Call> {
        let filter: Option<MessageFilter> = opt_code(filter, "filter")?;
        let client = self.client.clone();
        Ok(Call::new(
            async move {
                client
                    .efactura()
                    .list_messages_page(&cif, utc(start), utc(end), page, filter)
                    .await
            },
            json_out,
        ))
    }

    /// A stream over every page of the interval (`end` None: now).
    #[pyo3(signature = (cif, start, end=None, filter=None))]
    fn messages(
        &self,
        cif: &str,
        start: DateTime<chrono::FixedOffset>,
        end: Option<DateTime<chrono::FixedOffset>>,
        filter: Option<&str>,
    ) -> PyResult<MessageStream> {
        let filter: Option<MessageFilter> = opt_code(filter, "filter")?;
        let stream = self.client.efactura().messages(cif, utc(start), end.map(utc), filter);
        let window = (stream.effective_start(), stream.effective_end());
        Ok(MessageStream {
            stream: Arc::new(tokio::sync::Mutex::new(stream)),
            window: Arc::new(std::sync::Mutex::new(window)),
        })
    }

    #[pyo3(signature = (xml, kind="invoice"))]
    fn validate(&self, xml: Vec<u8>, kind: &str) -> PyResult<Call> {
        let kind: DocumentType = code(kind, "kind")?;
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.efactura().validate(xml, kind).await },
            json_out,
        ))
    }

    /// The PDF as bytes, or ANAF's validation report (a dict) when it would not render it.
    #[pyo3(signature = (xml, kind="invoice", validate=true))]
    fn to_pdf(&self, xml: Vec<u8>, kind: &str, validate: bool) -> PyResult<Call> {
        let kind: DocumentType = code(kind, "kind")?;
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.efactura().to_pdf(xml, kind, validate).await },
            pdf_out,
        ))
    }

    fn verify_signature(&self, invoice_xml: Vec<u8>, signature_xml: Vec<u8>) -> Call {
        let client = self.client.clone();
        Call::new(
            async move { client.efactura().verify_signature(invoice_xml, signature_xml).await },
            json_out,
        )
    }

    // --- e-Transport

    #[pyo3(signature = (xml, cif, version=2))]
    fn etransport_upload(&self, xml: Vec<u8>, cif: String, version: u32) -> PyResult<Call> {
        let version = schema_version(version)?;
        let client = self.client.clone();
        Ok(Call::new(
            async move { client.etransport().upload(xml, &cif, version).await },
            json_out,
        ))
    }

    fn etransport_status(&self, upload_id: u64) -> Call {
        let client = self.client.clone();
        Call::new(async move { client.etransport().status(upload_id).await }, json_out)
    }

    fn etransport_list(&self, cif: String, days: u32) -> Call {
        let client = self.client.clone();
        Call::new(async move { client.etransport().list(&cif, days).await }, json_out)
    }

    #[pyo3(signature = (operator_cif, *, declarant_cif=None, uit=None, reference=None))]
    fn etransport_info(
        &self,
        operator_cif: String,
        declarant_cif: Option<String>,
        uit: Option<String>,
        reference: Option<String>,
    ) -> Call {
        let filter = info_filter(declarant_cif, uit, reference);
        let client = self.client.clone();
        Call::new(
            async move { client.etransport().info(&operator_cif, filter).await },
            json_out,
        )
    }

    // --- public registries

    #[pyo3(signature = (cifs, date=None))]
    fn lookup_taxpayers(&self, cifs: Vec<String>, date: Option<NaiveDate>) -> Call {
        let client = self.client.clone();
        Call::new(
            async move { client.public().lookup_taxpayers(&cifs, date).await },
            json_out,
        )
    }

    #[pyo3(signature = (cifs, date=None))]
    fn lookup_efactura_register(&self, cifs: Vec<String>, date: Option<NaiveDate>) -> Call {
        let client = self.client.clone();
        Call::new(
            async move { client.public().lookup_efactura_register(&cifs, date).await },
            json_out,
        )
    }
}

/// Every message of an interval, a page at a time (one `next` at a time).
#[pyclass(frozen, module = "anaf._native")]
struct MessageStream {
    stream: Arc<tokio::sync::Mutex<anaf_core::efactura::MessageStream>>,
    /// The interval actually listed, copied after each page so that reading it never waits
    /// for a page being fetched (as the C ABI does).
    window: Arc<std::sync::Mutex<Window>>,
}

type Window = (DateTime<Utc>, Option<DateTime<Utc>>);

#[pymethods]
impl MessageStream {
    /// The next page as a dict, or None after the last.
    fn next_page(&self) -> Call {
        let (stream, window) = (self.stream.clone(), self.window.clone());
        Call::new(
            async move {
                let mut stream = stream.lock().await;
                let page = stream.next_page().await;
                *window.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    (stream.effective_start(), stream.effective_end());
                page
            },
            json_out,
        )
    }

    /// `(effective_start, effective_end)`: the interval actually listed; the end is None
    /// until the first page fixes it.
    fn window(&self) -> Window {
        *self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn seconds_arg(seconds: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        py_error(Error::invalid_input(
            name,
            format!("{name} must be a number of seconds >= 0"),
        ))
    })
}

fn login_options(open_browser: bool, timeout: f64, on_url: Option<Py<PyAny>>) -> PyResult<anaf_core::LoginOptions> {
    let mut options = anaf_core::LoginOptions::default()
        .open_browser(open_browser)
        .timeout(seconds_arg(timeout, "timeout")?);
    if let Some(hook) = on_url {
        options = options.on_url(move |url| {
            Python::attach(|py| {
                if let Err(e) = hook.call1(py, (url,)) {
                    e.write_unraisable(py, Some(hook.bind(py)));
                }
            })
        });
    }
    Ok(options)
}

fn upload_options(
    standard: &str,
    external: bool,
    self_billed: bool,
    enforcement: bool,
    b2c: bool,
) -> PyResult<UploadOptions> {
    let standard: Standard = code(standard, "standard")?;
    Ok(UploadOptions::new()
        .standard(standard)
        .external(external)
        .self_billed(self_billed)
        .enforcement(enforcement)
        .b2c(b2c))
}

fn wait_options(
    timeout: Option<f64>,
    first_poll: Option<f64>,
    max_interval: Option<f64>,
    max_polls: Option<u32>,
) -> PyResult<WaitOptions> {
    let mut wait = WaitOptions::default().max_polls(max_polls);
    if let Some(seconds) = timeout {
        wait = wait.timeout(seconds_arg(seconds, "timeout")?);
    }
    if let Some(seconds) = first_poll {
        wait = wait.first_poll(seconds_arg(seconds, "first_poll")?);
    }
    if let Some(seconds) = max_interval {
        wait = wait.max_interval(seconds_arg(seconds, "max_interval")?);
    }
    Ok(wait)
}

fn schema_version(version: u32) -> PyResult<SchemaVersion> {
    match version {
        2 => Ok(SchemaVersion::V2),
        1 => Ok(SchemaVersion::V1),
        other => Err(py_error(Error::invalid_input(
            "version",
            format!("e-Transport schema version {other} does not exist"),
        ))),
    }
}

fn info_filter(declarant_cif: Option<String>, uit: Option<String>, reference: Option<String>) -> InfoFilter {
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
    filter
}

/// The embedded ANAF sandbox, for tests of the user's own code.
#[pyclass(frozen, module = "anaf._native")]
struct NativeSandbox {
    sandbox: anaf_sandbox::Sandbox,
}

fn sandbox_error(error: anaf_sandbox::SandboxError) -> PyErr {
    match error {
        anaf_sandbox::SandboxError::InvalidInput(message) => py_error(Error::invalid_input("spec", message)),
        other => py_error(Error::internal(other.to_string())),
    }
}

fn from_py<T: serde::de::DeserializeOwned>(value: &Bound<'_, PyAny>, name: &str) -> PyResult<T> {
    pythonize::depythonize(value).map_err(|e| py_error(Error::invalid_input(name, format!("{name}: {e}"))))
}

#[pymethods]
impl NativeSandbox {
    #[new]
    #[pyo3(signature = (settings=None))]
    fn new(settings: Option<&Bound<'_, PyAny>>) -> PyResult<NativeSandbox> {
        let settings: anaf_sandbox::SandboxSettings = match settings {
            Some(s) => from_py(s, "settings")?,
            None => anaf_sandbox::SandboxSettings::default(),
        };
        Ok(NativeSandbox {
            sandbox: anaf_sandbox::Sandbox::start(settings.into_options()).map_err(sandbox_error)?,
        })
    }

    #[getter]
    fn base_url(&self) -> &str {
        self.sandbox.base_url()
    }

    /// `{"base_url", "application": {...}, "identity": {...}}`.
    fn info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.sandbox.info())
    }

    fn register_app(&self, py: Python<'_>, spec: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        to_py(
            py,
            &self
                .sandbox
                .register_app(from_py(spec, "spec")?)
                .map_err(sandbox_error)?,
        )
    }

    fn add_identity(&self, py: Python<'_>, spec: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        to_py(
            py,
            &self
                .sandbox
                .add_identity(from_py(spec, "spec")?)
                .map_err(sandbox_error)?,
        )
    }

    fn set_company(&self, spec: &Bound<'_, PyAny>) -> PyResult<()> {
        self.sandbox.set_company(from_py(spec, "spec")?).map_err(sandbox_error)
    }

    /// A code without a browser; `request` None: the default application and identity.
    #[pyo3(signature = (request=None))]
    fn authorize(&self, request: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
        let request: anaf_sandbox::AuthorizeRequest = match request {
            Some(r) => from_py(r, "request")?,
            None => self.sandbox.default_authorize_request(),
        };
        Ok(self.sandbox.authorize(&request).map_err(sandbox_error)?.code)
    }

    fn inject_fault(&self, spec: &Bound<'_, PyAny>) -> PyResult<()> {
        self.sandbox.inject_fault(from_py(spec, "spec")?).map_err(sandbox_error)
    }

    fn clear_faults(&self) {
        self.sandbox.clear_faults();
    }

    fn advance_clock(&self, seconds: f64) -> PyResult<()> {
        self.sandbox.advance_clock(seconds_arg(seconds, "seconds")?);
        Ok(())
    }

    #[pyo3(signature = (cif=None))]
    fn uploads(&self, py: Python<'_>, cif: Option<&str>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.sandbox.uploads(cif))
    }

    fn requests(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.sandbox.requests())
    }

    fn seed_received_invoices(&self, py: Python<'_>, request: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let request: anaf_sandbox::SeedRequest = from_py(request, "request")?;
        to_py(
            py,
            &self.sandbox.seed_received_invoices(&request).map_err(sandbox_error)?,
        )
    }

    fn stop(&self) {
        self.sandbox.stop();
    }

    #[staticmethod]
    fn sample_invoice(number: &str, seller_cif: &str, buyer_cif: &str) -> String {
        anaf_sandbox::samples::invoice_xml(&anaf_sandbox::samples::InvoiceSpec::new(number, seller_cif, buyer_cif))
    }

    #[staticmethod]
    fn sample_transport(declarant_cif: &str, reference: &str) -> String {
        anaf_sandbox::samples::transport_notification_xml(&anaf_sandbox::samples::TransportSpec::new(
            declarant_cif,
            reference,
        ))
    }
}

/// The core's logs into Python's `logging`, under the logger named after the module that
/// logged ("anaf.transport", ...).
struct PythonLog {
    get_logger: Py<PyAny>,
}

impl anaf_core::log_bridge::LogSink for PythonLog {
    fn log(&self, level: anaf_core::log_bridge::Level, target: &str, message: &str) {
        use anaf_core::log_bridge::Level;
        let number = match level {
            Level::ERROR => 40,
            Level::WARN => 30,
            Level::INFO => 20,
            Level::DEBUG => 10,
            _ => 5,
        };
        Python::attach(|py| {
            let name = target.replace("::", ".");
            if let Ok(logger) = self.get_logger.call1(py, (name,)) {
                let _ = logger.call_method1(py, "log", (number, message));
            }
        });
    }
}

/// Sends the client's logs at `level` (a `logging` level: 10 DEBUG, 20 INFO, ...; 5 and below
/// TRACE) and above to Python's `logging`; None stops. Tokens and codes are never logged.
#[pyfunction]
#[pyo3(signature = (level))]
fn log_to_python(py: Python<'_>, level: Option<u32>) -> PyResult<()> {
    use anaf_core::log_bridge::Level;
    let sink = match level {
        None => None,
        Some(number) => {
            let level = match number {
                0..=5 => Level::TRACE,
                6..=10 => Level::DEBUG,
                11..=20 => Level::INFO,
                21..=30 => Level::WARN,
                _ => Level::ERROR,
            };
            let get_logger = py.import("logging")?.getattr("getLogger")?.unbind();
            let sink: Arc<dyn anaf_core::log_bridge::LogSink> = Arc::new(PythonLog { get_logger });
            Some((sink, level))
        }
    };
    // Replacing the sink waits for a line being logged on another thread, which may wait for
    // the GIL: release it meanwhile.
    py.detach(|| anaf_core::log_bridge::set_sink(sink)).map_err(py_error)
}

/// Checks a CIF (with or without "RO") and returns it normalised (digits only).
#[pyfunction]
fn validate_cif(text: &str) -> PyResult<String> {
    Ok(anaf_core::Cif::parse(text).map_err(py_error)?.as_str().to_owned())
}

/// Registered with `atexit`: stops the core's threads before the interpreter finalizes, so
/// none of them can take the GIL while it does (a late `call_soon_threadsafe` from a worker
/// would otherwise race the finalization and abort the process).
#[pyfunction]
fn _shutdown_runtime(py: Python<'_>) {
    let _ = py.detach(|| anaf_core::runtime::shutdown(Duration::from_secs(1)));
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let shutdown = wrap_pyfunction!(_shutdown_runtime, m)?;
    py.import("atexit")?.call_method1("register", (shutdown,))?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<NativeClient>()?;
    m.add_class::<NativeSandbox>()?;
    m.add_class::<MessageStream>()?;
    m.add_class::<Archive>()?;
    m.add_class::<Call>()?;
    m.add_class::<LoopWaker>()?;
    m.add_function(wrap_pyfunction!(validate_cif, m)?)?;
    m.add_function(wrap_pyfunction!(log_to_python, m)?)?;
    for (name, class) in [
        ("AnafError", py.get_type::<AnafError>()),
        ("UnauthorizedError", py.get_type::<UnauthorizedError>()),
        ("ForbiddenError", py.get_type::<ForbiddenError>()),
        ("RateLimitedError", py.get_type::<RateLimitedError>()),
        ("DailyLimitError", py.get_type::<DailyLimitError>()),
        ("NoCifRightError", py.get_type::<NoCifRightError>()),
        ("NoCifRightsError", py.get_type::<NoCifRightsError>()),
        ("NotFoundError", py.get_type::<NotFoundError>()),
        ("DownloadExpiredError", py.get_type::<DownloadExpiredError>()),
        ("DuplicateInvoiceError", py.get_type::<DuplicateInvoiceError>()),
        ("WafRejectedError", py.get_type::<WafRejectedError>()),
        ("InvalidInputError", py.get_type::<InvalidInputError>()),
        ("OAuthError", py.get_type::<OAuthError>()),
        ("TimeoutError", py.get_type::<TimeoutError>()),
        ("TransportError", py.get_type::<TransportError>()),
        ("UnexpectedResponseError", py.get_type::<UnexpectedResponseError>()),
        ("QuotaExhaustedError", py.get_type::<QuotaExhaustedError>()),
        ("CancelledError", py.get_type::<CancelledError>()),
        ("InternalError", py.get_type::<InternalError>()),
    ] {
        m.add(name, class)?;
    }
    Ok(())
}
