"""anaf: a client for ANAF's APIs (RO e-Factura, RO e-Transport, OAuth at logincert.anaf.ro).

`Client` blocks (and releases the GIL during every network call and wait); `AsyncClient`
has the same methods as asyncio coroutines. `Sandbox` is an embedded ANAF for tests. Every
error is an `AnafError` subclass that keeps ANAF's Romanian text (`anaf_message`).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import inspect
import os
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from typing import Any, Callable, Optional, TypeVar, Union

from . import _native
from ._native import (
    AnafError,
    Archive,
    CancelledError,
    DailyLimitError,
    DownloadExpiredError,
    DuplicateInvoiceError,
    ForbiddenError,
    InternalError,
    InvalidInputError,
    NoCifRightError,
    NoCifRightsError,
    NotFoundError,
    OAuthError,
    QuotaExhaustedError,
    RateLimitedError,
    TimeoutError,
    TransportError,
    UnauthorizedError,
    UnexpectedResponseError,
    WafRejectedError,
    log_to_python,
    validate_cif,
)
from ._results import (
    Address,
    AuthorizationRequest,
    Message,
    MessagePage,
    RegisterEntry,
    RegisterLookup,
    QuotaUsage,
    SignatureVerdict,
    Submission,
    SubmissionRecord,
    SyncFailure,
    SyncProgress,
    SyncReport,
    Taxpayer,
    TaxpayerLookup,
    TokenInfo,
    TokenStatus,
    TransportReceipt,
    TransportRecord,
    TransportState,
    UploadReceipt,
    VatPeriod,
    UploadState,
    ValidationReport,
    build,
    build_list,
)

__version__: str = _native.__version__

__all__ = [
    "Address", "AnafError", "Archive", "AsyncClient", "AuthorizationRequest", "CancelledError",
    "Client", "DailyLimitError", "DownloadExpiredError", "DuplicateInvoiceError", "ForbiddenError",
    "InternalError", "InvalidInputError", "Message", "MessagePage", "NoCifRightError",
    "NoCifRightsError", "NotFoundError", "OAuthError", "Pages", "QuotaExhaustedError",
    "QuotaUsage", "RateLimitedError", "RegisterEntry", "RegisterLookup", "Sandbox", "SignatureVerdict",
    "Submission", "SubmissionRecord", "SyncFailure", "SyncProgress", "SyncReport", "Taxpayer", "TaxpayerLookup", "TimeoutError", "TokenInfo", "TokenStatus",
    "TransportError", "TransportReceipt", "TransportRecord", "TransportState",
    "UnauthorizedError", "UnexpectedResponseError", "UploadReceipt", "UploadState",
    "ValidationReport", "VatPeriod", "WafRejectedError", "log_to_python", "validate_cif",
]

T = TypeVar("T")

Xml = Union[bytes, str]


def _bytes(xml: Xml) -> bytes:
    return xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)


def _aware(when: _dt.datetime, name: str) -> _dt.datetime:
    if when.tzinfo is None:
        raise InvalidInputError(f"{name} must be an aware datetime (with a time zone)")
    return when


def _progress_hook(
    on_progress: Optional[Callable[[SyncProgress], None]],
) -> Optional[Callable[[dict[str, Any]], None]]:
    if on_progress is None:
        return None
    hook = on_progress
    return lambda progress: hook(build(SyncProgress, progress))


class _Base:
    """Options shared by `Client` and `AsyncClient` (all keyword-only):

    - `environment`: "test" (default) or "prod";
    - `base_url`: one URL for logincert, api and webservicesp (a `Sandbox`, a proxy);
    - `client_id`, `client_secret`, `redirect_uri`: the application registered at ANAF;
    - tokens: `token_file` (a JSON file, owner-only), or `token_load() -> str | None` and
      `token_save(json: str)` (and `token_clear()`) to keep them in your own database,
      `token_sharing_key` naming that storage; `on_token_event(event: dict)` hears every
      change (new tokens after a refresh, a save that failed, a login now required). With
      `AsyncClient` these callables may be coroutine functions: they run on the event loop
      the client is used from;
    - `requests_per_minute` (default ANAF's budget), `limit_requests=False` to turn it off,
      `timeout`, `connect_timeout` (seconds), `user_agent`, `proxy`, `max_retries`;
    - `state_database`: a SQLite file or `postgres://user:password@host/db`, shared by every
      process and machine using it: the journal of `submit` (each invoice at most once) and
      the ledger that keeps calls under ANAF's daily limits (`daily_limit`: one limit for
      every counted call; default ANAF's less 5%); `resend_after` (seconds, default 1800):
      how long a lost upload is looked for at ANAF before it is sent again;
      `database_tokens`: keep the tokens in `state_database` under this name (instead of
      `token_file` or callbacks), one login for every process and machine using it,
      refreshed by one of them at a time.
    """

    def __init__(
        self,
        *,
        environment: Optional[str] = None,
        base_url: Optional[str] = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        redirect_uri: Optional[str] = None,
        token_file: Optional[str] = None,
        token_load: Optional[Callable[[], Any]] = None,
        token_save: Optional[Callable[[str], Any]] = None,
        token_clear: Optional[Callable[[], Any]] = None,
        token_sharing_key: Optional[str] = None,
        on_token_event: Optional[Callable[[dict[str, Any]], Any]] = None,
        requests_per_minute: Optional[int] = None,
        limit_requests: bool = True,
        timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        user_agent: Optional[str] = None,
        proxy: Optional[str] = None,
        max_retries: Optional[int] = None,
        state_database: Optional[str] = None,
        resend_after: Optional[float] = None,
        daily_limit: Optional[int] = None,
        database_tokens: Optional[str] = None,
    ) -> None:
        # AsyncClient's async event callables still running (see `_run_soon`).
        self._tasks: set[asyncio.Future[Any]] = set()
        self._native = _native.NativeClient(
            environment=environment,
            base_url=base_url,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            token_file=token_file,
            token_load=self._callable(token_load),
            token_save=self._callable(token_save),
            token_clear=self._callable(token_clear),
            token_sharing_key=token_sharing_key,
            on_token_event=self._callable(on_token_event, wait=False),
            requests_per_minute=requests_per_minute,
            limit_requests=limit_requests,
            timeout=timeout,
            connect_timeout=connect_timeout,
            user_agent=user_agent,
            proxy=proxy,
            max_retries=max_retries,
            state_database=state_database,
            resend_after=resend_after,
            daily_limit=daily_limit,
            database_tokens=database_tokens,
        )

    def _callable(self, fn: Optional[Callable[..., Any]], wait: bool = True) -> Optional[Callable[..., Any]]:
        return fn

    def authorization_url(self, state: Optional[str] = None) -> AuthorizationRequest:
        """The URL to send the user to, and the `state` to check on the way back."""
        return build(AuthorizationRequest, self._native.authorization_url(state))

    def messages(
        self,
        cif: str,
        start: _dt.datetime,
        end: Optional[_dt.datetime] = None,
        filter: Optional[str] = None,
    ) -> Pages:
        """Every message between `start` and `end` (default: now), page after page: iterate
        it (`for page in ...`) or, from `AsyncClient`, `async for page in ...`."""
        stream = self._native.messages(cif, _aware(start, "start"), end and _aware(end, "end"), filter)
        return Pages(stream, self._start)

    def _start(self, call: _native.Call[T]) -> Awaitable[T]:
        """Starts `call` on the running loop (`async for` over a blocking client's pages)."""
        return _start_on_running_loop(call)


class Pages:
    """The pages of `messages(...)`: iterate it, or `async for` from `AsyncClient`.
    `effective_start` / `effective_end`: the interval actually listed (a start older than
    ANAF's 60 days moves later), final once the first page is read."""

    def __init__(self, stream: _native.MessageStream, start: Callable[[Any], Awaitable[Any]]) -> None:
        self._stream = stream
        self._start = start

    @property
    def effective_start(self) -> _dt.datetime:
        return self._stream.window()[0]

    @property
    def effective_end(self) -> Optional[_dt.datetime]:
        return self._stream.window()[1]

    def __iter__(self) -> Iterator[MessagePage]:
        while True:
            page = self._stream.next_page().wait()
            if page is None:
                return
            yield build(MessagePage, page)

    def __aiter__(self) -> AsyncIterator[MessagePage]:
        return self._async_pages()

    async def _async_pages(self) -> AsyncIterator[MessagePage]:
        while True:
            page = await self._start(self._stream.next_page())
            if page is None:
                return
            yield build(MessagePage, page)


class Client(_Base):
    """The blocking client. Every method releases the GIL while it waits on ANAF."""

    def exchange_code(self, code: str) -> TokenInfo:
        """Exchanges the authorization code (within 60 s) for tokens, kept by the store."""
        return build(TokenInfo, self._native.exchange_code(code).wait())

    def complete_authorization(self, redirected_url: str, expected_state: str) -> TokenInfo:
        """Completes a login from the URL the browser was sent back to (checks `state`)."""
        return build(TokenInfo, self._native.complete_authorization(redirected_url, expected_state).wait())

    def login_interactive(
        self, *, open_browser: bool = True, timeout: float = 300.0, on_url: Optional[Callable[[str], None]] = None
    ) -> TokenInfo:
        """The desktop login: HTTPS loopback callback, the system browser, the code exchanged."""
        return build(TokenInfo, self._native.login_interactive(
            open_browser=open_browser, timeout=timeout, on_url=on_url).wait())

    def refresh(self) -> TokenInfo:
        return build(TokenInfo, self._native.refresh().wait())

    def revoke(self) -> str:
        """Revokes the tokens: "confirmed" or "unconfirmed" (local tokens are cleared)."""
        return self._native.revoke().wait()

    def token_status(self) -> TokenStatus:
        return build(TokenStatus, self._native.token_status().wait())

    def tokens_json(self) -> Optional[str]:
        """The current tokens WITH their secrets, as a token store saves them."""
        return self._native.tokens_json().wait()

    def set_tokens_json(self, tokens_json: str) -> None:
        """Replaces the tokens (JSON as `tokens_json` gives) and saves them to the store."""
        self._native.set_tokens_json(tokens_json).wait()

    def save_tokens(self) -> None:
        """Saves tokens the store refused earlier now (the client also retries by itself)."""
        self._native.save_tokens().wait()

    def clear_tokens(self) -> None:
        self._native.clear_tokens().wait()

    def hello(self, name: str) -> str:
        """TestOauth: checks that the login works."""
        return self._native.hello(name).wait()

    def upload(
        self, xml: Xml, cif: str, *, standard: str = "ubl", external: bool = False,
        self_billed: bool = False, enforcement: bool = False, b2c: bool = False,
    ) -> UploadReceipt:
        """Uploads an invoice; never sent twice (a timeout may leave its outcome unknown:
        `err.upload_outcome_unknown`)."""
        return build(UploadReceipt, self._native.upload(
            _bytes(xml), cif, standard=standard, external=external, self_billed=self_billed,
            enforcement=enforcement, b2c=b2c).wait())

    def submit(
        self, xml: Xml, cif: str, *, standard: str = "ubl", external: bool = False,
        self_billed: bool = False, enforcement: bool = False, b2c: bool = False,
    ) -> SubmissionRecord:
        """Uploads an invoice at most once, through `state_database`: "uploaded" with its
        upload index, or "unknown" when ANAF's answer was lost (it is looked for at ANAF by
        the next `submit` of it or `resume_submissions`; never send it yourself)."""
        return build(SubmissionRecord, self._native.submit(
            _bytes(xml), cif, standard=standard, external=external, self_billed=self_billed,
            enforcement=enforcement, b2c=b2c).wait())

    def resume_submissions(self) -> list[SubmissionRecord]:
        """Moves on every unsettled submission (call it once after a restart)."""
        return build_list(SubmissionRecord, self._native.resume_submissions().wait())

    def submissions(
        self, cif: Optional[str] = None, state: Optional[str] = None, limit: Optional[int] = None
    ) -> list[SubmissionRecord]:
        """The journal, newest first."""
        return build_list(SubmissionRecord, self._native.submissions(cif, state, limit).wait())

    def quota_usage(self) -> list[QuotaUsage]:
        """Today's use of ANAF's daily limits (empty without `state_database`)."""
        return build_list(QuotaUsage, self._native.quota_usage().wait())

    def sync(
        self, cif: str, folder: Union[str, "os.PathLike[str]"], *, filter: Optional[str] = None,
        since: Optional[_dt.datetime] = None, pdf: bool = False,
        on_progress: Optional[Callable[[SyncProgress], None]] = None,
    ) -> SyncReport:
        """Archives every message ANAF keeps for `cif` (60 days, or from `since`) into `folder`,
        each downloaded once: `CIF/KIND/YYYY-MM/YYYY-MM-DD_PARTNER_ID/` with ANAF's ZIP, the
        invoice and signature, `message.json` and, with `pdf`, ANAF's PDF. A message whose
        folder is there is not downloaded again: run it again to go on after a stop.
        `on_progress` gets a `SyncProgress` after each page and message, on a library thread.
        One message's failure is in `failures`; a failure of every call is raised."""
        return build(SyncReport, self._native.sync(
            cif, os.fspath(folder), filter=filter, since=_aware(since, "since") if since else None, pdf=pdf,
            on_progress=_progress_hook(on_progress)).wait())

    def upload_and_wait(
        self, xml: Xml, cif: str, *, standard: str = "ubl", external: bool = False,
        self_billed: bool = False, enforcement: bool = False, b2c: bool = False,
        timeout: Optional[float] = None, first_poll: Optional[float] = None,
        max_interval: Optional[float] = None, max_polls: Optional[int] = None,
    ) -> Submission:
        """Uploads, then polls the state until it is final or the wait ends (`timeout`, default
        600 s; `first_poll` 2 s, backing off to `max_interval` 60 s; at most `max_polls`)."""
        return build(Submission, self._native.upload_and_wait(
            _bytes(xml), cif, standard=standard, external=external, self_billed=self_billed,
            enforcement=enforcement, b2c=b2c, timeout=timeout, first_poll=first_poll,
            max_interval=max_interval, max_polls=max_polls).wait())

    def status(self, upload_id: int) -> UploadState:
        return build(UploadState, self._native.status(upload_id).wait())

    def download(self, download_id: int) -> Archive:
        """The answer ZIP ("descarcare"): `.zip`, `.document()`, `.signature()`, `.error_report()`,
        `.invoice_summary()`."""
        return self._native.download(download_id).wait()

    def list_messages(self, cif: str, days: int, filter: Optional[str] = None) -> list[Message]:
        return build_list(Message, self._native.list_messages(cif, days, filter).wait())

    def list_messages_page(
        self, cif: str, start: _dt.datetime, end: _dt.datetime, page: int, filter: Optional[str] = None
    ) -> MessagePage:
        return build(MessagePage, self._native.list_messages_page(
            cif, _aware(start, "start"), _aware(end, "end"), page, filter).wait())

    def validate(self, xml: Xml, kind: str = "invoice") -> ValidationReport:
        return build(ValidationReport, self._native.validate(_bytes(xml), kind).wait())

    def to_pdf(self, xml: Xml, kind: str = "invoice", validate: bool = True) -> Union[bytes, ValidationReport]:
        """The PDF, or ANAF's report when it would not render the invoice."""
        return _pdf(self._native.to_pdf(_bytes(xml), kind, validate).wait())

    def verify_signature(self, invoice_xml: Xml, signature_xml: Xml) -> SignatureVerdict:
        return build(SignatureVerdict, self._native.verify_signature(_bytes(invoice_xml), _bytes(signature_xml)).wait())

    def etransport_upload(self, xml: Xml, cif: str, version: int = 2) -> TransportReceipt:
        return build(TransportReceipt, self._native.etransport_upload(_bytes(xml), cif, version).wait())

    def etransport_status(self, upload_id: int) -> TransportState:
        return build(TransportState, self._native.etransport_status(upload_id).wait())

    def etransport_list(self, cif: str, days: int) -> list[TransportRecord]:
        return build_list(TransportRecord, self._native.etransport_list(cif, days).wait())

    def etransport_info(
        self, operator_cif: str, *, declarant_cif: Optional[str] = None, uit: Optional[str] = None,
        reference: Optional[str] = None,
    ) -> list[dict[str, Any]]:
        """Transports organised by `operator_cif`, as ANAF's records (`uit`, `cod_decl`,
        `data_transp`, `loc_start`, ...); empty when none."""
        return self._native.etransport_info(
            operator_cif, declarant_cif=declarant_cif, uit=uit, reference=reference).wait()

    def lookup_taxpayers(self, cifs: Sequence[str], date: Optional[_dt.date] = None) -> TaxpayerLookup:
        """ANAF's VAT registry (batched by 100, paced at 1 request a second)."""
        return build(TaxpayerLookup, self._native.lookup_taxpayers(list(cifs), date).wait())

    def lookup_efactura_register(self, cifs: Sequence[str], date: Optional[_dt.date] = None) -> RegisterLookup:
        return build(RegisterLookup, self._native.lookup_efactura_register(list(cifs), date).wait())


class AsyncClient(_Base):
    """The asyncio client: the same methods as `Client`, as coroutines; they run on the
    client's own threads, so the event loop never waits on ANAF. Cancelling the task cancels
    the call in the client too (an upload cancelled after it was sent may have reached ANAF:
    look for it in `list_messages` before sending it again).

    Token callables may be coroutine functions: the client runs them on the event loop it was
    last awaited on, and its thread waits for them (never the loop)."""

    _loop: Optional[asyncio.AbstractEventLoop] = None
    _waker: Optional[_native.LoopWaker] = None

    def _start(self, call: _native.Call[T]) -> Awaitable[T]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._waker = loop, _waker(loop)
        return call.start(self._waker)

    def _callable(self, fn: Optional[Callable[..., Any]], wait: bool = True) -> Optional[Callable[..., Any]]:
        """`fn` as the client's threads call it: a coroutine function runs on the loop; the
        thread waits for its result (load, save, clear), or not (events)."""
        if fn is None or not inspect.iscoroutinefunction(fn):
            return fn
        coroutine_function = fn

        def on_client_thread(*args: Any) -> Any:
            loop = self._loop
            if loop is None or loop.is_closed():
                raise RuntimeError("an async token callable needs the event loop the client runs on")
            if wait:
                return asyncio.run_coroutine_threadsafe(coroutine_function(*args), loop).result()
            # Created on the loop: an event that arrives as the loop stops is simply dropped.
            loop.call_soon_threadsafe(self._run_soon, coroutine_function, args)
            return None

        return on_client_thread

    def _run_soon(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        task = asyncio.ensure_future(fn(*args))
        self._tasks.add(task)  # a task nobody references may be collected before it runs
        task.add_done_callback(self._tasks.discard)

    async def exchange_code(self, code: str) -> TokenInfo:
        return build(TokenInfo, await self._start(self._native.exchange_code(code)))

    async def complete_authorization(self, redirected_url: str, expected_state: str) -> TokenInfo:
        return build(TokenInfo, await self._start(self._native.complete_authorization(redirected_url, expected_state)))

    async def login_interactive(
        self, *, open_browser: bool = True, timeout: float = 300.0, on_url: Optional[Callable[[str], None]] = None
    ) -> TokenInfo:
        return build(TokenInfo, await self._start(self._native.login_interactive(
            open_browser=open_browser, timeout=timeout, on_url=on_url)))

    async def refresh(self) -> TokenInfo:
        return build(TokenInfo, await self._start(self._native.refresh()))

    async def revoke(self) -> str:
        return await self._start(self._native.revoke())

    async def token_status(self) -> TokenStatus:
        return build(TokenStatus, await self._start(self._native.token_status()))

    async def tokens_json(self) -> Optional[str]:
        return await self._start(self._native.tokens_json())

    async def set_tokens_json(self, tokens_json: str) -> None:
        await self._start(self._native.set_tokens_json(tokens_json))

    async def save_tokens(self) -> None:
        await self._start(self._native.save_tokens())

    async def clear_tokens(self) -> None:
        await self._start(self._native.clear_tokens())

    async def hello(self, name: str) -> str:
        return await self._start(self._native.hello(name))

    async def upload(
        self, xml: Xml, cif: str, *, standard: str = "ubl", external: bool = False,
        self_billed: bool = False, enforcement: bool = False, b2c: bool = False,
    ) -> UploadReceipt:
        return build(UploadReceipt, await self._start(self._native.upload(
            _bytes(xml), cif, standard=standard, external=external, self_billed=self_billed,
            enforcement=enforcement, b2c=b2c)))

    async def submit(
        self, xml: Xml, cif: str, *, standard: str = "ubl", external: bool = False,
        self_billed: bool = False, enforcement: bool = False, b2c: bool = False,
    ) -> SubmissionRecord:
        return build(SubmissionRecord, await self._start(self._native.submit(
            _bytes(xml), cif, standard=standard, external=external, self_billed=self_billed,
            enforcement=enforcement, b2c=b2c)))

    async def resume_submissions(self) -> list[SubmissionRecord]:
        return build_list(SubmissionRecord, await self._start(self._native.resume_submissions()))

    async def submissions(
        self, cif: Optional[str] = None, state: Optional[str] = None, limit: Optional[int] = None
    ) -> list[SubmissionRecord]:
        return build_list(SubmissionRecord, await self._start(self._native.submissions(cif, state, limit)))

    async def quota_usage(self) -> list[QuotaUsage]:
        return build_list(QuotaUsage, await self._start(self._native.quota_usage()))

    async def sync(
        self, cif: str, folder: Union[str, "os.PathLike[str]"], *, filter: Optional[str] = None,
        since: Optional[_dt.datetime] = None, pdf: bool = False,
        on_progress: Optional[Callable[[SyncProgress], None]] = None,
    ) -> SyncReport:
        """See `Client.sync`; `on_progress` runs on a library thread, not the event loop."""
        return build(SyncReport, await self._start(self._native.sync(
            cif, os.fspath(folder), filter=filter, since=_aware(since, "since") if since else None, pdf=pdf,
            on_progress=_progress_hook(on_progress))))

    async def upload_and_wait(
        self, xml: Xml, cif: str, *, standard: str = "ubl", external: bool = False,
        self_billed: bool = False, enforcement: bool = False, b2c: bool = False,
        timeout: Optional[float] = None, first_poll: Optional[float] = None,
        max_interval: Optional[float] = None, max_polls: Optional[int] = None,
    ) -> Submission:
        return build(Submission, await self._start(self._native.upload_and_wait(
            _bytes(xml), cif, standard=standard, external=external, self_billed=self_billed,
            enforcement=enforcement, b2c=b2c, timeout=timeout, first_poll=first_poll,
            max_interval=max_interval, max_polls=max_polls)))

    async def status(self, upload_id: int) -> UploadState:
        return build(UploadState, await self._start(self._native.status(upload_id)))

    async def download(self, download_id: int) -> Archive:
        return await self._start(self._native.download(download_id))

    async def list_messages(self, cif: str, days: int, filter: Optional[str] = None) -> list[Message]:
        return build_list(Message, await self._start(self._native.list_messages(cif, days, filter)))

    async def list_messages_page(
        self, cif: str, start: _dt.datetime, end: _dt.datetime, page: int, filter: Optional[str] = None
    ) -> MessagePage:
        return build(MessagePage, await self._start(self._native.list_messages_page(
            cif, _aware(start, "start"), _aware(end, "end"), page, filter)))

    async def validate(self, xml: Xml, kind: str = "invoice") -> ValidationReport:
        return build(ValidationReport, await self._start(self._native.validate(_bytes(xml), kind)))

    async def to_pdf(self, xml: Xml, kind: str = "invoice", validate: bool = True) -> Union[bytes, ValidationReport]:
        return _pdf(await self._start(self._native.to_pdf(_bytes(xml), kind, validate)))

    async def verify_signature(self, invoice_xml: Xml, signature_xml: Xml) -> SignatureVerdict:
        return build(SignatureVerdict, await self._start(
            self._native.verify_signature(_bytes(invoice_xml), _bytes(signature_xml))))

    async def etransport_upload(self, xml: Xml, cif: str, version: int = 2) -> TransportReceipt:
        return build(TransportReceipt, await self._start(self._native.etransport_upload(_bytes(xml), cif, version)))

    async def etransport_status(self, upload_id: int) -> TransportState:
        return build(TransportState, await self._start(self._native.etransport_status(upload_id)))

    async def etransport_list(self, cif: str, days: int) -> list[TransportRecord]:
        return build_list(TransportRecord, await self._start(self._native.etransport_list(cif, days)))

    async def etransport_info(
        self, operator_cif: str, *, declarant_cif: Optional[str] = None, uit: Optional[str] = None,
        reference: Optional[str] = None,
    ) -> list[dict[str, Any]]:
        return await self._start(self._native.etransport_info(
            operator_cif, declarant_cif=declarant_cif, uit=uit, reference=reference))

    async def lookup_taxpayers(self, cifs: Sequence[str], date: Optional[_dt.date] = None) -> TaxpayerLookup:
        return build(TaxpayerLookup, await self._start(self._native.lookup_taxpayers(list(cifs), date)))

    async def lookup_efactura_register(self, cifs: Sequence[str], date: Optional[_dt.date] = None) -> RegisterLookup:
        return build(RegisterLookup, await self._start(self._native.lookup_efactura_register(list(cifs), date)))


def _start_on_running_loop(call: _native.Call[T]) -> Awaitable[T]:
    loop = asyncio.get_running_loop()
    return call.start(_waker(loop))


_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Optional[_native.LoopWaker]] = (
    weakref.WeakKeyDictionary()
)


def _waker(loop: asyncio.AbstractEventLoop) -> Optional[_native.LoopWaker]:
    """The loop's socket for finished calls, made and registered on its first call; None where
    the loop cannot watch a socket (Windows' default loop): calls then settle through
    `call_soon_threadsafe`, a little slower."""
    try:
        return _wakers[loop]
    except KeyError:
        pass
    waker: Optional[_native.LoopWaker] = None
    try:
        candidate = _native.LoopWaker()
        loop.add_reader(candidate.fileno(), candidate.on_readable)
        waker = candidate
    except NotImplementedError:
        pass
    _wakers[loop] = waker
    return waker


def _pdf(outcome: Union[bytes, dict[str, Any]]) -> Union[bytes, ValidationReport]:
    return outcome if isinstance(outcome, bytes) else build(ValidationReport, outcome["report"])


class Sandbox:
    """An ANAF of your own on a loopback port, for tests: `with anaf.Sandbox(instant=True) as
    sandbox: client = anaf.Client(**sandbox.client_options())`. Settings (all optional):
    `instant` (uploads final at once), `port`, `processing_delay_ms`, `indexing_lag_ms`,
    `per_minute_limit`, `daily_limits` (dict), `code_lifetime_ms`, `access_token_lifetime_ms`,
    `refresh_token_lifetime_ms`, `rotate_refresh_tokens`, `waf_rules`, `public_registry_pacing`,
    `default_client_id`, `default_client_secret`, `default_redirect_uris`, `worker_threads`."""

    def __init__(self, **settings: Any) -> None:
        self._native = _native.NativeSandbox(settings or None)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        result: str = self._native.base_url
        return result

    def info(self) -> dict[str, Any]:
        """The base URL, the default application and the default identity."""
        result: dict[str, Any] = self._native.info()
        return result

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for `Client`/`AsyncClient` pointing at this sandbox with its
        default application."""
        app = self.info()["application"]
        return {
            "base_url": self.base_url,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "redirect_uri": app["redirect_uris"][0],
        }

    def authorize(self, request: Optional[dict[str, Any]] = None) -> str:
        """An authorization code without a browser (default application and identity unless
        `request` says otherwise: client_id, redirect_uri, serial, state)."""
        result: str = self._native.authorize(request)
        return result

    def register_app(self, spec: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._native.register_app(spec)
        return result

    def add_identity(self, spec: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._native.add_identity(spec)
        return result

    def set_company(self, spec: dict[str, Any]) -> None:
        self._native.set_company(spec)

    def inject_fault(self, endpoint: str, fault: dict[str, Any], times: Optional[int] = None) -> None:
        """Makes the next matching requests fail, e.g. `inject_fault("efactura.upload",
        {"kind": "status", "status": 500}, times=1)`."""
        self._native.inject_fault({"endpoint": endpoint, "fault": fault, "times": times})

    def clear_faults(self) -> None:
        self._native.clear_faults()

    def advance_clock(self, seconds: float) -> None:
        self._native.advance_clock(seconds)

    def uploads(self, cif: Optional[str] = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._native.uploads(cif)
        return result

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._native.requests()
        return result

    def seed_received_invoices(self, cif: str, count: int, days_back: int = 30) -> list[int]:
        result: list[int] = self._native.seed_received_invoices({"cif": cif, "count": count, "days_back": days_back})
        return result

    def stop(self) -> None:
        self._native.stop()

    @staticmethod
    def sample_invoice(number: str, seller_cif: str, buyer_cif: str) -> str:
        """A valid CIUS-RO invoice for tests."""
        result: str = _native.NativeSandbox.sample_invoice(number, seller_cif, buyer_cif)
        return result

    @staticmethod
    def sample_transport(declarant_cif: str, reference: str) -> str:
        result: str = _native.NativeSandbox.sample_transport(declarant_cif, reference)
        return result
