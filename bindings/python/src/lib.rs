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
use pyo3::prelude::*;
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

/// Runs a core future with the GIL released, on the core's runtime.
fn block<T: Send>(py: Python<'_>, work: impl Future<Output = Result<T, Error>> + Send) -> PyResult<T> {
    py.detach(|| anaf_core::runtime::block_on(work)).map_err(py_error)
}

/// A core future as an asyncio future of the running loop. The work runs on the core's
/// runtime and resolves the future through `call_soon_threadsafe` (one hop, no second
/// runtime); cancelling the asyncio future fires the core's cancellation (so an upload
/// reports what it had done).
fn awaitable<'py, T: Send + 'static>(
    py: Python<'py>,
    work: impl Future<Output = Result<T, Error>> + Send + 'static,
    convert: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>> {
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let cancel = CancellationToken::new();
    let on_done = cancel.clone();
    let cancel_on_cancelled = pyo3::types::PyCFunction::new_closure(
        py,
        None,
        None,
        move |args: &Bound<'_, pyo3::types::PyTuple>, _: Option<&Bound<'_, pyo3::types::PyDict>>| -> PyResult<()> {
            if args.get_item(0)?.call_method0("cancelled")?.is_truthy()? {
                on_done.cancel();
            }
            Ok(())
        },
    )?;
    future.call_method1("add_done_callback", (cancel_on_cancelled,))?;
    let runtime = anaf_core::runtime::handle().map_err(py_error)?;
    let (event_loop, target) = (event_loop.unbind(), future.clone().unbind());
    runtime.spawn(async move {
        let outcome = anaf_core::cancellable(&cancel, work).await;
        Python::attach(|py| {
            let (ok, value) = match outcome.map_err(py_error).and_then(|value| convert(py, value)) {
                Ok(value) => (true, value),
                Err(error) => (false, error.into_value(py).into_any()),
            };
            if let Ok(resolve) = wrap_pyfunction!(resolve, py) {
                // A loop already closed (the program moved on) has nobody to tell.
                let _ = event_loop.call_method1(py, "call_soon_threadsafe", (resolve, target, ok, value));
            }
        });
    });
    Ok(future)
}

/// On the event loop: settles a future made by `awaitable`, unless it was cancelled.
#[pyfunction]
fn resolve(future: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    if ok {
        future.call_method1("set_result", (value,))?;
    } else {
        future.call_method1("set_exception", (value,))?;
    }
    Ok(())
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
        timeout=None, connect_timeout=None, user_agent=None, proxy=None, max_retries=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
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
        Ok(NativeClient {
            client: builder.build().map_err(py_error)?,
        })
    }

    // --- OAuth

    #[pyo3(signature = (state=None))]
    fn authorization_url(&self, py: Python<'_>, state: Option<&str>) -> PyResult<Py<PyAny>> {
        json_out(py, self.client.oauth().authorization_url(state).map_err(py_error)?)
    }

    fn exchange_code(&self, py: Python<'_>, code: String) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let info = block(py, async move {
            client.oauth().exchange_code(&code).await.map(|t| t.info())
        })?;
        json_out(py, info)
    }

    fn exchange_code_async<'py>(&self, py: Python<'py>, code: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.oauth().exchange_code(&code).await.map(|t| t.info()) },
            json_out,
        )
    }

    fn complete_authorization(
        &self,
        py: Python<'_>,
        redirected_url: String,
        expected_state: String,
    ) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let info = block(py, async move {
            client
                .oauth()
                .complete_authorization(&redirected_url, &expected_state)
                .await
                .map(|t| t.info())
        })?;
        json_out(py, info)
    }

    fn complete_authorization_async<'py>(
        &self,
        py: Python<'py>,
        redirected_url: String,
        expected_state: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(
            py,
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

    fn refresh(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let info = block(py, async move { client.oauth().refresh().await.map(|t| t.info()) })?;
        json_out(py, info)
    }

    fn refresh_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.oauth().refresh().await.map(|t| t.info()) },
            json_out,
        )
    }

    fn revoke(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let outcome = block(py, async move { client.oauth().revoke().await })?;
        json_out(py, outcome)
    }

    fn revoke_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(py, async move { client.oauth().revoke().await }, json_out)
    }

    fn token_status(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let status = block(py, async move { client.oauth().token_status().await })?;
        json_out(py, status)
    }

    fn token_status_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(py, async move { client.oauth().token_status().await }, json_out)
    }

    /// The tokens WITH their secrets, as the JSON a store saves (None when logged out).
    fn tokens_json(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let client = self.client.clone();
        block(py, async move {
            client.oauth().tokens().await.map(|t| t.map(|t| t.to_json()))
        })
    }

    fn set_tokens_json(&self, py: Python<'_>, tokens_json: String) -> PyResult<()> {
        let tokens = TokenSet::from_json(&tokens_json).map_err(py_error)?;
        let client = self.client.clone();
        block(py, async move { client.oauth().set_tokens(tokens).await })
    }

    fn clear_tokens(&self, py: Python<'_>) -> PyResult<()> {
        let client = self.client.clone();
        block(py, async move { client.oauth().clear_tokens().await })
    }

    fn clear_tokens_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(py, async move { client.oauth().clear_tokens().await }, |py, ()| {
            Ok(py.None())
        })
    }

    #[pyo3(signature = (*, open_browser=true, timeout=300.0, on_url=None))]
    fn login_interactive(
        &self,
        py: Python<'_>,
        open_browser: bool,
        timeout: f64,
        on_url: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let options = login_options(open_browser, timeout, on_url)?;
        let client = self.client.clone();
        let info = block(py, async move {
            client.oauth().login_interactive(options).await.map(|t| t.info())
        })?;
        json_out(py, info)
    }

    #[pyo3(signature = (*, open_browser=true, timeout=300.0, on_url=None))]
    fn login_interactive_async<'py>(
        &self,
        py: Python<'py>,
        open_browser: bool,
        timeout: f64,
        on_url: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = login_options(open_browser, timeout, on_url)?;
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.oauth().login_interactive(options).await.map(|t| t.info()) },
            json_out,
        )
    }

    fn hello(&self, py: Python<'_>, name: String) -> PyResult<String> {
        let client = self.client.clone();
        block(py, async move { client.hello(&name).await })
    }

    fn hello_async<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(py, async move { client.hello(&name).await }, json_out)
    }

    // --- e-Factura

    #[pyo3(signature = (xml, cif, *, standard="ubl", external=false, self_billed=false, enforcement=false, b2c=false))]
    #[allow(clippy::too_many_arguments)]
    fn upload(
        &self,
        py: Python<'_>,
        xml: Vec<u8>,
        cif: String,
        standard: &str,
        external: bool,
        self_billed: bool,
        enforcement: bool,
        b2c: bool,
    ) -> PyResult<Py<PyAny>> {
        let options = upload_options(standard, external, self_billed, enforcement, b2c)?;
        let client = self.client.clone();
        let receipt = block(py, async move { client.efactura().upload(xml, &cif, options).await })?;
        json_out(py, receipt)
    }

    #[pyo3(signature = (xml, cif, *, standard="ubl", external=false, self_billed=false, enforcement=false, b2c=false))]
    #[allow(clippy::too_many_arguments)]
    fn upload_async<'py>(
        &self,
        py: Python<'py>,
        xml: Vec<u8>,
        cif: String,
        standard: &str,
        external: bool,
        self_billed: bool,
        enforcement: bool,
        b2c: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = upload_options(standard, external, self_billed, enforcement, b2c)?;
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.efactura().upload(xml, &cif, options).await },
            json_out,
        )
    }

    #[pyo3(signature = (xml, cif, *, standard="ubl", external=false, self_billed=false, enforcement=false, b2c=false, timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn upload_and_wait(
        &self,
        py: Python<'_>,
        xml: Vec<u8>,
        cif: String,
        standard: &str,
        external: bool,
        self_billed: bool,
        enforcement: bool,
        b2c: bool,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        let options = upload_options(standard, external, self_billed, enforcement, b2c)?;
        let wait = wait_options(timeout)?;
        let client = self.client.clone();
        let submission = block(py, async move {
            client.efactura().upload_and_wait(xml, &cif, options, wait).await
        })?;
        json_out(py, submission)
    }

    #[pyo3(signature = (xml, cif, *, standard="ubl", external=false, self_billed=false, enforcement=false, b2c=false, timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn upload_and_wait_async<'py>(
        &self,
        py: Python<'py>,
        xml: Vec<u8>,
        cif: String,
        standard: &str,
        external: bool,
        self_billed: bool,
        enforcement: bool,
        b2c: bool,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = upload_options(standard, external, self_billed, enforcement, b2c)?;
        let wait = wait_options(timeout)?;
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.efactura().upload_and_wait(xml, &cif, options, wait).await },
            json_out,
        )
    }

    fn status(&self, py: Python<'_>, upload_id: u64) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let state = block(py, async move { client.efactura().status(upload_id).await })?;
        json_out(py, state)
    }

    fn status_async<'py>(&self, py: Python<'py>, upload_id: u64) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(py, async move { client.efactura().status(upload_id).await }, json_out)
    }

    fn download(&self, py: Python<'_>, download_id: u64) -> PyResult<Archive> {
        let client = self.client.clone();
        let inner = block(py, async move { client.efactura().download(download_id).await })?;
        Ok(Archive { inner })
    }

    fn download_async<'py>(&self, py: Python<'py>, download_id: u64) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.efactura().download(download_id).await },
            |py, inner| Ok(Py::new(py, Archive { inner })?.into_any()),
        )
    }

    #[pyo3(signature = (cif, days, filter=None))]
    fn list_messages(&self, py: Python<'_>, cif: String, days: u32, filter: Option<&str>) -> PyResult<Py<PyAny>> {
        let filter: Option<MessageFilter> = opt_code(filter, "filter")?;
        let client = self.client.clone();
        let messages = block(
            py,
            async move { client.efactura().list_messages(&cif, days, filter).await },
        )?;
        json_out(py, messages)
    }

    #[pyo3(signature = (cif, days, filter=None))]
    fn list_messages_async<'py>(
        &self,
        py: Python<'py>,
        cif: String,
        days: u32,
        filter: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter: Option<MessageFilter> = opt_code(filter, "filter")?;
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.efactura().list_messages(&cif, days, filter).await },
            json_out,
        )
    }

    #[pyo3(signature = (cif, start, end, page, filter=None))]
    fn list_messages_page(
        &self,
        py: Python<'_>,
        cif: String,
        start: DateTime<chrono::FixedOffset>,
        end: DateTime<chrono::FixedOffset>,
        page: u32,
        filter: Option<&str>,
    ) -> PyResult<Py<PyAny>> {
        let filter: Option<MessageFilter> = opt_code(filter, "filter")?;
        let client = self.client.clone();
        let page = block(py, async move {
            client
                .efactura()
                .list_messages_page(&cif, utc(start), utc(end), page, filter)
                .await
        })?;
        json_out(py, page)
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
        Ok(MessageStream {
            stream: Arc::new(tokio::sync::Mutex::new(stream)),
        })
    }

    #[pyo3(signature = (xml, kind="invoice"))]
    fn validate(&self, py: Python<'_>, xml: Vec<u8>, kind: &str) -> PyResult<Py<PyAny>> {
        let kind: DocumentType = code(kind, "kind")?;
        let client = self.client.clone();
        let report = block(py, async move { client.efactura().validate(xml, kind).await })?;
        json_out(py, report)
    }

    #[pyo3(signature = (xml, kind="invoice"))]
    fn validate_async<'py>(&self, py: Python<'py>, xml: Vec<u8>, kind: &str) -> PyResult<Bound<'py, PyAny>> {
        let kind: DocumentType = code(kind, "kind")?;
        let client = self.client.clone();
        awaitable(py, async move { client.efactura().validate(xml, kind).await }, json_out)
    }

    /// The PDF as bytes, or ANAF's validation report (a dict) when it would not render it.
    #[pyo3(signature = (xml, kind="invoice", validate=true))]
    fn to_pdf(&self, py: Python<'_>, xml: Vec<u8>, kind: &str, validate: bool) -> PyResult<Py<PyAny>> {
        let kind: DocumentType = code(kind, "kind")?;
        let client = self.client.clone();
        let outcome = block(py, async move { client.efactura().to_pdf(xml, kind, validate).await })?;
        pdf_out(py, outcome)
    }

    #[pyo3(signature = (xml, kind="invoice", validate=true))]
    fn to_pdf_async<'py>(
        &self,
        py: Python<'py>,
        xml: Vec<u8>,
        kind: &str,
        validate: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind: DocumentType = code(kind, "kind")?;
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.efactura().to_pdf(xml, kind, validate).await },
            pdf_out,
        )
    }

    fn verify_signature(&self, py: Python<'_>, invoice_xml: Vec<u8>, signature_xml: Vec<u8>) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let verdict = block(py, async move {
            client.efactura().verify_signature(invoice_xml, signature_xml).await
        })?;
        json_out(py, verdict)
    }

    fn verify_signature_async<'py>(
        &self,
        py: Python<'py>,
        invoice_xml: Vec<u8>,
        signature_xml: Vec<u8>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.efactura().verify_signature(invoice_xml, signature_xml).await },
            json_out,
        )
    }

    // --- e-Transport

    #[pyo3(signature = (xml, cif, version=2))]
    fn etransport_upload(&self, py: Python<'_>, xml: Vec<u8>, cif: String, version: u32) -> PyResult<Py<PyAny>> {
        let version = schema_version(version)?;
        let client = self.client.clone();
        let receipt = block(py, async move { client.etransport().upload(xml, &cif, version).await })?;
        json_out(py, receipt)
    }

    #[pyo3(signature = (xml, cif, version=2))]
    fn etransport_upload_async<'py>(
        &self,
        py: Python<'py>,
        xml: Vec<u8>,
        cif: String,
        version: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let version = schema_version(version)?;
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.etransport().upload(xml, &cif, version).await },
            json_out,
        )
    }

    fn etransport_status(&self, py: Python<'_>, upload_id: u64) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let state = block(py, async move { client.etransport().status(upload_id).await })?;
        json_out(py, state)
    }

    fn etransport_status_async<'py>(&self, py: Python<'py>, upload_id: u64) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(py, async move { client.etransport().status(upload_id).await }, json_out)
    }

    fn etransport_list(&self, py: Python<'_>, cif: String, days: u32) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let records = block(py, async move { client.etransport().list(&cif, days).await })?;
        json_out(py, records)
    }

    fn etransport_list_async<'py>(&self, py: Python<'py>, cif: String, days: u32) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(py, async move { client.etransport().list(&cif, days).await }, json_out)
    }

    #[pyo3(signature = (operator_cif, *, declarant_cif=None, uit=None, reference=None))]
    fn etransport_info(
        &self,
        py: Python<'_>,
        operator_cif: String,
        declarant_cif: Option<String>,
        uit: Option<String>,
        reference: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let filter = info_filter(declarant_cif, uit, reference);
        let client = self.client.clone();
        let records = block(py, async move { client.etransport().info(&operator_cif, filter).await })?;
        json_out(py, records)
    }

    // --- public registries

    #[pyo3(signature = (cifs, date=None))]
    fn lookup_taxpayers(&self, py: Python<'_>, cifs: Vec<String>, date: Option<NaiveDate>) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let found = block(py, async move { client.public().lookup_taxpayers(&cifs, date).await })?;
        json_out(py, found)
    }

    #[pyo3(signature = (cifs, date=None))]
    fn lookup_taxpayers_async<'py>(
        &self,
        py: Python<'py>,
        cifs: Vec<String>,
        date: Option<NaiveDate>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client.clone();
        awaitable(
            py,
            async move { client.public().lookup_taxpayers(&cifs, date).await },
            json_out,
        )
    }

    #[pyo3(signature = (cifs, date=None))]
    fn lookup_efactura_register(
        &self,
        py: Python<'_>,
        cifs: Vec<String>,
        date: Option<NaiveDate>,
    ) -> PyResult<Py<PyAny>> {
        let client = self.client.clone();
        let found = block(py, async move {
            client.public().lookup_efactura_register(&cifs, date).await
        })?;
        json_out(py, found)
    }
}

/// Every message of an interval, a page at a time (one `next` at a time).
#[pyclass(frozen, module = "anaf._native")]
struct MessageStream {
    stream: Arc<tokio::sync::Mutex<anaf_core::efactura::MessageStream>>,
}

#[pymethods]
impl MessageStream {
    /// The next page as a dict, or None after the last.
    fn next_page(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let stream = self.stream.clone();
        let page = block(py, async move { stream.lock().await.next_page().await })?;
        json_out(py, page)
    }

    fn next_page_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        awaitable(py, async move { stream.lock().await.next_page().await }, json_out)
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

fn wait_options(timeout: Option<f64>) -> PyResult<WaitOptions> {
    let mut wait = WaitOptions::default();
    if let Some(seconds) = timeout {
        wait = wait.timeout(seconds_arg(seconds, "timeout")?);
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
            None => {
                let info = self.sandbox.info();
                anaf_sandbox::AuthorizeRequest {
                    client_id: info.application.client_id,
                    redirect_uri: info.application.redirect_uris.first().cloned().unwrap_or_default(),
                    serial: info.identity.serial,
                    state: None,
                    token_content_type: "jwt".into(),
                }
            }
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
