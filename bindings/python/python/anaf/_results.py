"""Typed results: frozen dataclasses built from the core's JSON-shaped results.

The native module hands back the core's serialisable results as plain dicts (the same names
every binding uses); this module only gives them types. Times become aware datetimes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import re
import sys
import typing
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")

_dataclass = dataclasses.dataclass(frozen=True, **({"slots": True} if sys.version_info >= (3, 10) else {}))


# Nanoseconds (the core writes up to nine digits) cut to the microseconds a datetime holds.
_NANOSECONDS = re.compile(r"(\.\d{6})\d+")


def _time(value: Optional[str]) -> Optional[_dt.datetime]:
    if value is None:
        return None
    # Python 3.9/3.10 read neither a trailing "Z" nor more than six digits of a second.
    return _dt.datetime.fromisoformat(_NANOSECONDS.sub(r"\1", value.replace("Z", "+00:00")))


def _date(value: Optional[str]) -> Optional[_dt.date]:
    return None if value is None else _dt.date.fromisoformat(value)


def _identity(value: Any) -> Any:
    return value


def _converter(hint: Any) -> Callable[[Any], Any]:
    """How to turn the core's JSON value into the field's type, decided once per field."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            return _identity
        convert = _converter(inner[0])
        return lambda value: None if value is None else convert(value)
    if hint is _dt.datetime:
        return _time
    if hint is _dt.date:
        return _date
    if origin is tuple and args:
        item = _converter(args[0])
        return lambda value: tuple(item(v) for v in value)
    if dataclasses.is_dataclass(hint):
        return lambda value: _build(hint, value)  # type: ignore[arg-type]
    return _identity


@functools.lru_cache(maxsize=None)
def _plan(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls))


def _build(cls: type[T], data: Any) -> T:
    """A dataclass from the core's dict; keys the class does not know are ignored (the
    core may add fields), times are parsed, nested results are built too."""
    plan = _plan(cls)  # type: ignore[arg-type]  # classes are hashable
    return cls(**{name: convert(data[name]) for name, convert in plan if name in data})


@_dataclass
class TokenInfo:
    """When the tokens expire (never the tokens themselves)."""

    expires_at: _dt.datetime
    refresh_expires_at: Optional[_dt.datetime] = None


@_dataclass
class TokenStatus:
    """Where the login stands. `unsaved`: the store refused the current pair (kept in memory,
    saved again on the next call); `login_required`: the user must log in again."""

    logged_in: bool
    tokens: Optional[TokenInfo] = None
    unsaved: bool = False
    login_required: bool = False
    generation: int = 0


@_dataclass
class AuthorizationRequest:
    """The URL to open in the user's browser, and the `state` to check on the redirect."""

    url: str
    state: str


@_dataclass
class UploadReceipt:
    """ANAF's answer to an upload: its index ("index_incarcare"), for `status`."""

    upload_id: int
    response_time: str


@_dataclass
class UploadState:
    """An upload's state ("stare"): `in_progress`, `ok`, `nok` or `rejected_xml`; the
    download id ("id_descarcare") once processed."""

    state: str
    download_id: Optional[int] = None


@_dataclass
class Submission:
    """`upload_and_wait`'s result: the receipt and the last state seen (possibly still
    `in_progress` when the wait ended: the upload happened; keep its id)."""

    receipt: UploadReceipt
    state: UploadState
    polls: int = 0


@_dataclass
class SubmissionRecord:
    """An invoice given to `submit`, and where it stands: `state` is pending, sending,
    unknown (ANAF's answer was lost: it is looked for at ANAF; never send it yourself),
    uploaded (with `upload_id`, its one upload index) or failed (see `last_error`)."""

    key: str
    cif: str
    standard: str
    sha256: str
    state: str
    attempts: int
    created_at: _dt.datetime
    updated_at: _dt.datetime
    invoice_number: Optional[str] = None
    issue_date: Optional[str] = None
    upload_id: Optional[int] = None
    last_error: Optional[dict[str, Any]] = None
    sent_at: Optional[_dt.datetime] = None


@_dataclass
class SyncProgress:
    """How far a sync is: messages `listed` of ANAF's `total`, `archived` by this sync,
    `already_archived` (their folder was there), `failed`, and the `bytes` of ZIP downloaded."""

    cif: str
    listed: int = 0
    total: int = 0
    archived: int = 0
    already_archived: int = 0
    failed: int = 0
    bytes: int = 0


@_dataclass
class SyncFailure:
    """A message a sync could not archive (the next sync tries it again); `error` as the
    error's fields (kind, message, ANAF's text)."""

    download_id: int
    upload_id: int
    error: dict[str, Any]


@_dataclass
class SyncReport:
    """What a sync did: the final counts, the archive's `folder`, the window listed (from
    `window_start`, later than asked when ANAF no longer keeps older messages)."""

    progress: SyncProgress
    folder: str
    window_start: _dt.datetime
    window_end: Optional[_dt.datetime] = None
    failures: tuple[SyncFailure, ...] = ()


@_dataclass
class QuotaUsage:
    """Today's use of one of ANAF's daily limits, as the quota ledger counts it: `counter`
    (list, list_paged, status, download, upload_rasp, transport_status, transport_list),
    counted per `scope` (cif, message, user) under `key`; it resets at `resets_at`
    (midnight in Bucharest)."""

    day: _dt.date
    counter: str
    scope: str
    key: str
    used: int
    limit: int
    remaining: int
    resets_at: _dt.datetime


@_dataclass
class Message:
    """A message of the list: `id` is the download id; `kind` is sent, received, errors or
    buyer_message; `created_at` in Bucharest time."""

    id: int
    upload_id: int
    cif: str
    kind: str
    details: str
    created_at: Optional[_dt.datetime] = None
    raw_kind: str = ""
    raw_created_at: str = ""


@_dataclass
class MessagePage:
    """One page of the paginated list."""

    messages: tuple[Message, ...]
    page: int
    total_pages: int
    total_messages: int
    per_page: int


@_dataclass
class ValidationReport:
    """ANAF's validation: `valid`, its messages, and its trace id."""

    valid: bool
    messages: tuple[str, ...] = ()
    trace_id: Optional[str] = None


@_dataclass
class SignatureVerdict:
    """The signature check, with ANAF's message."""

    valid: bool
    message: str


@_dataclass
class TransportReceipt:
    """ANAF's answer to an e-Transport declaration: its index and the UIT (the transport's
    code, valid once `etransport_status` says `ok`)."""

    upload_id: int
    uit: Optional[str] = None
    raw_uit: str = ""
    reference: str = ""
    trace_id: Optional[str] = None
    warning: Optional[str] = None
    response_time: str = ""


@_dataclass
class TransportState:
    """A declaration's state ("stare"): `in_progress`, `ok`, `nok` (with ANAF's `errors`) or
    `rejected_xml`."""

    state: str
    errors: tuple[str, ...] = ()


@_dataclass
class TransportRecord:
    """One e-Transport declaration of the list or of a search: `kind` is ANAF's `tip` (NOT
    notification, COR, DEL, CON, MVH), `state` its `stare` (OK or ERR), `operation` its
    `tip_op`; `raw` keeps the whole record ANAF sent."""

    upload_id: int
    declarant_cif: str
    uit: Optional[str] = None
    reference: Optional[str] = None
    kind: Optional[str] = None
    state: Optional[str] = None
    operation: Optional[str] = None
    created_at: Optional[_dt.datetime] = None
    vehicle: Optional[str] = None
    messages: tuple[str, ...] = ()
    raw: Any = None


@_dataclass
class Address:
    street: str = ""
    number: str = ""
    locality: str = ""
    county: str = ""
    county_code: str = ""
    county_letters: str = ""
    country: str = ""
    details: str = ""
    postal_code: str = ""


@_dataclass
class VatPeriod:
    """A period of VAT registration ("perioade_TVA")."""

    start: Optional[_dt.date] = None
    end: Optional[_dt.date] = None
    cancelled: Optional[_dt.date] = None
    message: str = ""


@_dataclass
class Taxpayer:
    """A company in ANAF's VAT registry, as of `date`; `raw` keeps ANAF's whole record."""

    cif: str
    name: str
    date: Optional[_dt.date] = None
    address: str = ""
    trade_register_number: str = ""
    phone: str = ""
    postal_code: str = ""
    registration_state: str = ""
    registered_on: Optional[_dt.date] = None
    caen_code: str = ""
    iban: str = ""
    vat_payer: bool = False
    vat_periods: tuple[VatPeriod, ...] = ()
    vat_on_collection: bool = False
    inactive: bool = False
    inactive_since: Optional[_dt.date] = None
    reactivated_on: Optional[_dt.date] = None
    deregistered_on: Optional[_dt.date] = None
    split_vat: bool = False
    efactura_registered: bool = False
    efactura_registered_on: Optional[_dt.date] = None
    head_office: Address = Address()
    fiscal_address: Address = Address()
    raw: Any = None


@_dataclass
class TaxpayerLookup:
    """What the VAT registry knows of the CIFs asked about; `not_found` as digits."""

    found: tuple[Taxpayer, ...] = ()
    not_found: tuple[str, ...] = ()


@_dataclass
class RegisterEntry:
    """One entry of the RO e-Factura register ("registru"); `b2g_since`: receives public
    procurement invoices since then."""

    cif: str
    register: str = ""
    category: str = ""
    registered_on: Optional[_dt.date] = None
    renounced_on: Optional[_dt.date] = None
    deregistered_on: Optional[_dt.date] = None
    b2g_since: Optional[_dt.date] = None
    state: str = ""
    raw: Any = None


@_dataclass
class RegisterLookup:
    found: tuple[RegisterEntry, ...] = ()
    not_found: tuple[str, ...] = ()


def build(cls: type[T], data: Any) -> T:
    return _build(cls, data)


def build_list(cls: type[T], data: Any) -> list[T]:
    return [_build(cls, item) for item in data]
