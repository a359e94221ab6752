"""anaf: a client for ANAF's APIs (RO e-Factura, RO e-Transport, OAuth at logincert.anaf.ro).

`Client` blocks (and releases the GIL during every network call and wait); `AsyncClient`
has the same methods as asyncio coroutines. `Sandbox` is an embedded ANAF for tests. Every
error is an `AnafError` subclass that keeps ANAF's Romanian text (`anaf_message`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Callable, Optional, Union

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
    AuthorizationRequest,
    Message,
    MessagePage,
    SignatureVerdict,
    Submission,
    TokenInfo,
    TokenStatus,
    TransportReceipt,
    UploadReceipt,
    UploadState,
    ValidationReport,
    build,
    build_list,
)

__version__: str = _native.__version__

__all__ = [
    "AnafError", "Archive", "AsyncClient", "AuthorizationRequest", "CancelledError", "Client",
    "DailyLimitError", "DownloadExpiredError", "DuplicateInvoiceError", "ForbiddenError",
    "InternalError", "InvalidInputError", "Message", "MessagePage", "NoCifRightError",
    "NoCifRightsError", "NotFoundError", "OAuthError", "QuotaExhaustedError", "RateLimitedError",
    "Sandbox", "SignatureVerdict", "Submission", "TimeoutError", "TokenInfo", "TokenStatus",
    "TransportError", "TransportReceipt", "UnauthorizedError", "UnexpectedResponseError",
    "UploadReceipt", "UploadState", "ValidationReport", "WafRejectedError", "log_to_python",
    "validate_cif",
]

Xml = Union[bytes, str]


def _bytes(xml: Xml) -> bytes:
    return xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)


def _aware(when: _dt.datetime, name: str) -> _dt.datetime:
    if when.tzinfo is None:
        raise InvalidInputError(f"{name} must be an aware datetime (with a time zone)")
    return when


class _Base:
    """Options shared by `Client` and `AsyncClient` (all keyword-only):

    - `environment`: "test" (default) or "prod";
    - `base_url`: one URL for logincert, api and webservicesp (a `Sandbox`, a proxy);
    - `client_id`, `client_secret`, `redirect_uri`: the application registered at ANAF;
    - tokens: `token_file` (a JSON file, owner-only), or `token_load() -> str | None` and
      `token_save(json: str)` (and `token_clear()`) to keep them in your own database,
      `token_sharing_key` naming that storage; `on_token_event(event: dict)` hears every
      change (new tokens after a refresh, a save that failed, a login now required);
    - `requests_per_minute` (default ANAF's budget), `limit_requests=False` to turn it off,
      `timeout`, `connect_timeout` (seconds), `user_agent`, `proxy`, `max_retries`.
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
        token_load: Optional[Callable[[], Optional[str]]] = None,
        token_save: Optional[Callable[[str], None]] = None,
        token_clear: Optional[Callable[[], None]] = None,
        token_sharing_key: Optional[str] = None,
        on_token_event: Optional[Callable[[dict[str, Any]], None]] = None,
        requests_per_minute: Optional[int] = None,
        limit_requests: bool = True,
        timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        user_agent: Optional[str] = None,
        proxy: Optional[str] = None,
        max_retries: Optional[int] = None,
    ) -> None:
        self._native = _native.NativeClient(
            environment=environment,
            base_url=base_url,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            token_file=token_file,
            token_load=token_load,
            token_save=token_save,
            token_clear=token_clear,
            token_sharing_key=token_sharing_key,
            on_token_event=on_token_event,
            requests_per_minute=requests_per_minute,
            limit_requests=limit_requests,
            timeout=timeout,
            connect_timeout=connect_timeout,
            user_agent=user_agent,
            proxy=proxy,
            max_retries=max_retries,
        )

    def authorization_url(self, state: Optional[str] = None) -> AuthorizationRequest:
        """The URL to send the user to, and the `state` to check on the way back."""
        return build(AuthorizationRequest, self._native.authorization_url(state))

    def tokens_json(self) -> Optional[str]:
        """The current tokens WITH their secrets, as a token store saves them."""
        return self._native.tokens_json()

    def set_tokens_json(self, tokens_json: str) -> None:
        """Replaces the tokens (JSON as `tokens_json` gives) and saves them to the store."""
        self._native.set_tokens_json(tokens_json)

    def messages(
        self,
        cif: str,
        start: _dt.datetime,
        end: Optional[_dt.datetime] = None,
        filter: Optional[str] = None,
    ) -> _Pages:
        """Every message between `start` and `end` (default: now), page after page: iterate
        it (`for page in ...`) or, from `AsyncClient`, `async for page in ...`."""
        stream = self._native.messages(cif, _aware(start, "start"), end and _aware(end, "end"), filter)
        return _Pages(stream)


class _Pages:
    """The pages of a message stream, blocking or async."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[MessagePage]:
        while True:
            page = self._stream.next_page()
            if page is None:
                return
            yield build(MessagePage, page)

    def __aiter__(self) -> AsyncIterator[MessagePage]:
        return self._async_pages()

    async def _async_pages(self) -> AsyncIterator[MessagePage]:
        while True:
            page = await self._stream.next_page_async()
            if page is None:
                return
            yield build(MessagePage, page)


class Client(_Base):
    """The blocking client. Every method releases the GIL while it waits on ANAF."""

    def exchange_code(self, code: str) -> TokenInfo:
        """Exchanges the authorization code (within 60 s) for tokens, kept by the store."""
        return build(TokenInfo, self._native.exchange_code(code))

    def complete_authorization(self, redirected_url: str, expected_state: str) -> TokenInfo:
        """Completes a login from the URL the browser was sent back to (checks `state`)."""
        return build(TokenInfo, self._native.complete_authorization(redirected_url, expected_state))

    def login_interactive(
        self, *, open_browser: bool = True, timeout: float = 300.0, on_url: Optional[Callable[[str], None]] = None
    ) -> TokenInfo:
        """The desktop login: HTTPS loopback callback, the system browser, the code exchanged."""
        return build(TokenInfo, self._native.login_interactive(open_browser=open_browser, timeout=timeout, on_url=on_url))

    def refresh(self) -> TokenInfo:
        return build(TokenInfo, self._native.refresh())

    def revoke(self) -> str:
        """Revokes the tokens: "confirmed" or "unconfirmed" (local tokens are cleared)."""
        result: str = self._native.revoke()
        return result

    def token_status(self) -> TokenStatus:
        return build(TokenStatus, self._native.token_status())

    def clear_tokens(self) -> None:
        self._native.clear_tokens()

    def hello(self, name: str) -> str:
        """TestOauth: checks that the login works."""
        result: str = self._native.hello(name)
        return result

    def upload(
        self, xml: Xml, cif: str, *, standard: str = "ubl", external: bool = False,
        self_billed: bool = False, enforcement: bool = False, b2c: bool = False,
    ) -> UploadReceipt:
        """Uploads an invoice; never sent twice (a timeout may leave its outcome unknown:
        `err.upload_outcome_unknown`)."""
        return build(UploadReceipt, self._native.upload(
            _bytes(xml), cif, standard=standard, external=external, self_billed=self_billed,
            enforcement=enforcement, b2c=b2c))

    def upload_and_wait(
        self, xml: Xml, cif: str, *, standard: str = "ubl", external: bool = False,
        self_billed: bool = False, enforcement: bool = False, b2c: bool = False,
        timeout: Optional[float] = None,
    ) -> Submission:
        return build(Submission, self._native.upload_and_wait(
            _bytes(xml), cif, standard=standard, external=external, self_billed=self_billed,
            enforcement=enforcement, b2c=b2c, timeout=timeout))

    def status(self, upload_id: int) -> UploadState:
        return build(UploadState, self._native.status(upload_id))

    def download(self, download_id: int) -> Archive:
        """The answer ZIP ("descarcare"): `.zip`, `.document()`, `.signature()`, `.error_report()`."""
        return self._native.download(download_id)

    def list_messages(self, cif: str, days: int, filter: Optional[str] = None) -> list[Message]:
        return build_list(Message, self._native.list_messages(cif, days, filter))

    def list_messages_page(
        self, cif: str, start: _dt.datetime, end: _dt.datetime, page: int, filter: Optional[str] = None
    ) -> MessagePage:
        return build(MessagePage, self._native.list_messages_page(
            cif, _aware(start, "start"), _aware(end, "end"), page, filter))

    def validate(self, xml: Xml, kind: str = "invoice") -> ValidationReport:
        return build(ValidationReport, self._native.validate(_bytes(xml), kind))

    def to_pdf(self, xml: Xml, kind: str = "invoice", validate: bool = True) -> Union[bytes, ValidationReport]:
        """The PDF, or ANAF's report when it would not render the invoice."""
        outcome = self._native.to_pdf(_bytes(xml), kind, validate)
        return outcome if isinstance(outcome, bytes) else build(ValidationReport, outcome["report"])

    def verify_signature(self, invoice_xml: Xml, signature_xml: Xml) -> SignatureVerdict:
        return build(SignatureVerdict, self._native.verify_signature(_bytes(invoice_xml), _bytes(signature_xml)))

    def etransport_upload(self, xml: Xml, cif: str, version: int = 2) -> TransportReceipt:
        return build(TransportReceipt, self._native.etransport_upload(_bytes(xml), cif, version))

    def etransport_status(self, upload_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._native.etransport_status(upload_id)
        return result

    def etransport_list(self, cif: str, days: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._native.etransport_list(cif, days)
        return result

    def etransport_info(
        self, operator_cif: str, *, declarant_cif: Optional[str] = None, uit: Optional[str] = None,
        reference: Optional[str] = None,
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._native.etransport_info(
            operator_cif, declarant_cif=declarant_cif, uit=uit, reference=reference)
        return result

    def lookup_taxpayers(self, cifs: Sequence[str], date: Optional[_dt.date] = None) -> dict[str, Any]:
        """ANAF's VAT registry: `{"found": [...], "not_found": [...]}`."""
        result: dict[str, Any] = self._native.lookup_taxpayers(list(cifs), date)
        return result

    def lookup_efactura_register(self, cifs: Sequence[str], date: Optional[_dt.date] = None) -> dict[str, Any]:
        result: dict[str, Any] = self._native.lookup_efactura_register(list(cifs), date)
        return result


class AsyncClient(_Base):
    """The asyncio client: the same methods as `Client`, as coroutines; they run on the
    client's own threads, so the event loop never waits on ANAF. Cancelling the task cancels
    the call in the client too (an upload cancelled after it was sent may have reached ANAF:
    look for it in `list_messages` before sending it again)."""

    async def exchange_code(self, code: str) -> TokenInfo:
        return build(TokenInfo, await self._native.exchange_code_async(code))

    async def complete_authorization(self, redirected_url: str, expected_state: str) -> TokenInfo:
        return build(TokenInfo, await self._native.complete_authorization_async(redirected_url, expected_state))

    async def login_interactive(
        self, *, open_browser: bool = True, timeout: float = 300.0, on_url: Optional[Callable[[str], None]] = None
    ) -> TokenInfo:
        return build(TokenInfo, await self._native.login_interactive_async(
            open_browser=open_browser, timeout=timeout, on_url=on_url))

    async def refresh(self) -> TokenInfo:
        return build(TokenInfo, await self._native.refresh_async())

    async def revoke(self) -> str:
        result: str = await self._native.revoke_async()
        return result

    async def token_status(self) -> TokenStatus:
        return build(TokenStatus, await self._native.token_status_async())

    async def clear_tokens(self) -> None:
        await self._native.clear_tokens_async()

    async def hello(self, name: str) -> str:
        result: str = await self._native.hello_async(name)
        return result

    async def upload(
        self, xml: Xml, cif: str, *, standard: str = "ubl", external: bool = False,
        self_billed: bool = False, enforcement: bool = False, b2c: bool = False,
    ) -> UploadReceipt:
        return build(UploadReceipt, await self._native.upload_async(
            _bytes(xml), cif, standard=standard, external=external, self_billed=self_billed,
            enforcement=enforcement, b2c=b2c))

    async def upload_and_wait(
        self, xml: Xml, cif: str, *, standard: str = "ubl", external: bool = False,
        self_billed: bool = False, enforcement: bool = False, b2c: bool = False,
        timeout: Optional[float] = None,
    ) -> Submission:
        return build(Submission, await self._native.upload_and_wait_async(
            _bytes(xml), cif, standard=standard, external=external, self_billed=self_billed,
            enforcement=enforcement, b2c=b2c, timeout=timeout))

    async def status(self, upload_id: int) -> UploadState:
        return build(UploadState, await self._native.status_async(upload_id))

    async def download(self, download_id: int) -> Archive:
        result: Archive = await self._native.download_async(download_id)
        return result

    async def list_messages(self, cif: str, days: int, filter: Optional[str] = None) -> list[Message]:
        return build_list(Message, await self._native.list_messages_async(cif, days, filter))

    async def validate(self, xml: Xml, kind: str = "invoice") -> ValidationReport:
        return build(ValidationReport, await self._native.validate_async(_bytes(xml), kind))

    async def to_pdf(self, xml: Xml, kind: str = "invoice", validate: bool = True) -> Union[bytes, ValidationReport]:
        outcome = await self._native.to_pdf_async(_bytes(xml), kind, validate)
        return outcome if isinstance(outcome, bytes) else build(ValidationReport, outcome["report"])

    async def verify_signature(self, invoice_xml: Xml, signature_xml: Xml) -> SignatureVerdict:
        return build(SignatureVerdict, await self._native.verify_signature_async(_bytes(invoice_xml), _bytes(signature_xml)))

    async def etransport_upload(self, xml: Xml, cif: str, version: int = 2) -> TransportReceipt:
        return build(TransportReceipt, await self._native.etransport_upload_async(_bytes(xml), cif, version))

    async def etransport_status(self, upload_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._native.etransport_status_async(upload_id)
        return result

    async def etransport_list(self, cif: str, days: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._native.etransport_list_async(cif, days)
        return result

    async def lookup_taxpayers(self, cifs: Sequence[str], date: Optional[_dt.date] = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._native.lookup_taxpayers_async(list(cifs), date)
        return result


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
