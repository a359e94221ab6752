"""The blocking client against the embedded sandbox (`anaf_sandbox`: the fixture the
package ships)."""

from __future__ import annotations

import datetime as dt
import html
import os
import queue
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zoneinfo

import pytest

import anaf

SELLER, BUYER = "8000000000", "12345674"


@pytest.fixture
def client(anaf_sandbox: anaf.Sandbox) -> anaf.Client:
    client = anaf.Client(**anaf_sandbox.client_options(), max_retries=0)
    client.exchange_code(anaf_sandbox.authorize())
    return client


def invoice(number: str) -> str:
    return anaf.Sandbox.sample_invoice(number, SELLER, BUYER)


def test_round_trip(anaf_sandbox: anaf.Sandbox, client: anaf.Client) -> None:
    assert client.hello("py").startswith("Hello, py")
    receipt = client.upload(invoice("PY-1"), SELLER)
    assert receipt.upload_id > 0
    state = client.status(receipt.upload_id)
    assert state.state == "ok" and state.download_id
    archive = client.download(state.download_id)
    assert archive.zip[:2] == b"PK"
    assert b"PY-1" in archive.document()
    assert archive.error_report() is None and archive.error() is None
    summary = archive.invoice_summary()
    assert summary is not None and summary["number"] == "PY-1" and summary["payable"] == "238.00"
    assert summary["seller"]["vat_id"] == "RO" + SELLER and summary["lines"] == 1
    verdict = client.verify_signature(archive.document(), archive.signature())
    assert verdict.valid, verdict.message
    reopened = anaf.Archive.from_bytes(archive.zip)
    assert reopened.document() == archive.document()
    messages = client.list_messages(SELLER, 1, "sent")
    assert [m.upload_id for m in messages] == [receipt.upload_id]
    assert messages[0].created_at is not None and messages[0].created_at.tzinfo is not None
    assert client.validate(invoice("PY-2")).valid
    pdf = client.to_pdf(invoice("PY-3"))
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF")
    transport = client.etransport_upload(anaf.Sandbox.sample_transport(SELLER, "PY-TR-1"), SELLER)
    assert transport.uit
    transport_state = client.etransport_status(transport.upload_id)
    assert isinstance(transport_state, anaf.TransportState) and transport_state.state == "ok"
    found = client.lookup_taxpayers([SELLER, "19"])
    assert isinstance(found, anaf.TaxpayerLookup) and found.not_found == ("19",)
    assert found.found[0].cif == SELLER and isinstance(found.found[0].head_office, anaf.Address)
    # The registry answers for today in Romania, which is not the machine's date near midnight.
    assert found.found[0].date == dt.datetime.now(zoneinfo.ZoneInfo("Europe/Bucharest")).date()
    register = client.lookup_efactura_register([SELLER])
    assert isinstance(register, anaf.RegisterLookup) and register.found[0].cif == SELLER
    assert anaf.validate_cif("RO 8000000000") == SELLER
    assert client.token_status().logged_in
    assert client.revoke() == "confirmed"
    with pytest.raises(anaf.UnauthorizedError):
        client.hello("after revoke")


def test_every_page_of_the_stream(anaf_sandbox: anaf.Sandbox, client: anaf.Client) -> None:
    anaf_sandbox.seed_received_invoices(SELLER, 30, days_back=3)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=5)
    pages = list(client.messages(SELLER, start, filter="received"))
    assert pages and all(isinstance(p, anaf.MessagePage) for p in pages)
    # The newest seeded ones may fall inside the last minute, which the stream leaves out.
    assert 25 <= sum(len(p.messages) for p in pages) <= 30
    with pytest.raises(anaf.InvalidInputError):
        client.messages(SELLER, dt.datetime.now())  # naive: refused
    too_old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=90)
    stream = client.messages(SELLER, too_old)
    first = next(iter(stream))
    assert isinstance(first, anaf.MessagePage)
    # ANAF keeps 60 days: the stream says where its interval really starts.
    assert stream.effective_start - too_old > dt.timedelta(days=29)
    assert stream.effective_end is not None and stream.effective_end <= dt.datetime.now(dt.timezone.utc)


def test_e_transport_results_are_typed(anaf_sandbox: anaf.Sandbox, client: anaf.Client) -> None:
    receipt = client.etransport_upload(anaf.Sandbox.sample_transport(SELLER, "PY-TR-2"), SELLER)
    records = client.etransport_list(SELLER, 1)
    assert [r.upload_id for r in records] == [receipt.upload_id]
    assert isinstance(records[0], anaf.TransportRecord) and records[0].declarant_cif == SELLER
    assert records[0].created_at is not None and records[0].created_at.tzinfo is not None
    assert isinstance(records[0].raw, dict)
    by_uit = client.etransport_info(SELLER, uit=receipt.uit)
    assert [r["uit"] for r in by_uit] == [receipt.uit]


def test_the_wait_after_an_upload_follows_its_options() -> None:
    with anaf.Sandbox(processing_delay_ms=60_000) as sandbox:
        client = anaf.Client(**sandbox.client_options(), max_retries=0)
        client.exchange_code(sandbox.authorize())
        submission = client.upload_and_wait(invoice("PY-W-1"), SELLER, first_poll=0, max_interval=0.05, max_polls=2)
        assert submission.state.state == "in_progress" and submission.polls == 2
        assert len(sandbox.uploads(SELLER)) == 1  # the upload happened once; keep its id


def test_a_call_runs_once(client: anaf.Client) -> None:
    call = client._native.hello("once")
    assert call.wait().startswith("Hello, once")
    with pytest.raises(RuntimeError, match="already run"):
        call.wait()


def test_anafs_errors_keep_their_kind_status_and_romanian_text(
    anaf_sandbox: anaf.Sandbox, client: anaf.Client
) -> None:
    with pytest.raises(anaf.NotFoundError) as missing:
        client.status(15000)
    assert missing.value.anaf_message == "Nu exista factura cu id_incarcare= 15000"
    assert missing.value.code == "not_found" and missing.value.http_status == 200
    assert "Nu exista factura" in str(missing.value)
    with pytest.raises(anaf.NoCifRightError) as not_mine:
        client.list_messages("33333338", 1)
    assert not_mine.value.anaf_message == "Nu aveti drept in SPV pentru CIF=33333338"
    with pytest.raises(anaf.InvalidInputError) as garbage:
        client.upload(b"not xml", SELLER)
    assert garbage.value.field == "xml" and garbage.value.anaf_message.startswith("Fisierul transmis")
    with pytest.raises(anaf.InvalidInputError) as bad_filter:
        client.list_messages(SELLER, 1, "everything")
    assert bad_filter.value.field == "filter"
    with pytest.raises(anaf.OAuthError):
        client.exchange_code("not-a-code")
    for status, kind in [(401, anaf.UnauthorizedError), (403, anaf.ForbiddenError), (429, anaf.RateLimitedError)]:
        anaf_sandbox.inject_fault("hello", {"kind": "status", "status": status}, times=3)
        with pytest.raises(kind) as error:
            client.hello("x")
        assert error.value.http_status == status
        anaf_sandbox.clear_faults()
    anaf_sandbox.inject_fault("hello", {"kind": "waf_block"}, times=1)
    with pytest.raises(anaf.WafRejectedError):
        client.hello("x")
    anaf_sandbox.inject_fault("hello", {"kind": "reset"}, times=1)
    with pytest.raises(anaf.TransportError):
        client.hello("x")
    anaf_sandbox.inject_fault(
        "efactura.status", {"kind": "reply", "status": 200, "content_type": "text/plain", "body": "?"}, times=1
    )
    with pytest.raises(anaf.UnexpectedResponseError):
        client.status(1)
    assert all(issubclass(k, anaf.AnafError) for k in (anaf.NotFoundError, anaf.TimeoutError))


def test_limits_expiry_duplicates_and_timeouts() -> None:
    with anaf.Sandbox(instant=True, daily_limits={"efactura_status": 1}) as sandbox:
        client = anaf.Client(**sandbox.client_options(), max_retries=0)
        client.exchange_code(sandbox.authorize())
        receipt = client.upload(invoice("PY-L-1"), SELLER)
        state = client.status(receipt.upload_id)
        with pytest.raises(anaf.DailyLimitError) as limited:
            client.status(receipt.upload_id)
        assert limited.value.limit == 1 and "in cursul zilei" in limited.value.anaf_message
        first = client.upload_and_wait(invoice("PY-D-1"), SELLER)
        second = client.upload_and_wait(invoice("PY-D-1"), SELLER)
        assert second.state.state == "nok" and second.state.download_id
        duplicate = client.download(second.state.download_id).error()
        assert isinstance(duplicate, anaf.DuplicateInvoiceError)
        assert duplicate.previous_upload_id == first.receipt.upload_id
        sandbox.advance_clock(61 * 86400)
        client.exchange_code(sandbox.authorize())
        with pytest.raises(anaf.DownloadExpiredError):
            client.download(state.download_id)
    with anaf.Sandbox(instant=True) as sandbox:
        impatient = anaf.Client(**sandbox.client_options(), timeout=1.0, max_retries=0)
        impatient.exchange_code(sandbox.authorize())
        sandbox.inject_fault("hello", {"kind": "latency", "ms": 5000}, times=1)
        with pytest.raises(anaf.TimeoutError):
            impatient.hello("slow")


def test_a_user_without_rights(anaf_sandbox: anaf.Sandbox) -> None:
    nobody = anaf_sandbox.add_identity({"name": "Nimeni", "cifs": [], "services": ["efactura"]})
    app = anaf_sandbox.info()["application"]
    code = anaf_sandbox.authorize(
        {"client_id": app["client_id"], "redirect_uri": app["redirect_uris"][0], "serial": nobody["serial"]}
    )
    client = anaf.Client(**anaf_sandbox.client_options())
    client.exchange_code(code)
    with pytest.raises(anaf.NoCifRightsError):
        client.list_messages(SELLER, 1)


def test_the_gil_is_released_while_a_call_waits(anaf_sandbox: anaf.Sandbox, client: anaf.Client) -> None:
    anaf_sandbox.inject_fault("hello", {"kind": "latency", "ms": 1000}, times=1)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (client.hello("slow"), done.set()))
    worker.start()
    spins = 0
    while not done.is_set():  # Python code keeps running only if the call released the GIL
        spins += 1
    worker.join()
    assert spins > 10_000


def test_threads_share_one_client(anaf_sandbox: anaf.Sandbox, client: anaf.Client) -> None:
    receipt = client.upload(invoice("PY-T-1"), SELLER)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                client.hello("thread")
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert client.status(receipt.upload_id).state == "ok"


def test_tokens_in_the_applications_own_storage(anaf_sandbox: anaf.Sandbox) -> None:
    database: dict[str, str] = {}
    events: list[dict[str, object]] = []
    failing = {"save": False}

    def save(tokens_json: str) -> None:
        if failing["save"]:
            raise RuntimeError("database is down")
        database["tokens"] = tokens_json

    options = dict(
        anaf_sandbox.client_options(),
        token_load=lambda: database.get("tokens"),
        token_save=save,
        token_clear=lambda: database.pop("tokens", None),
        on_token_event=events.append,
    )
    client = anaf.Client(**options)
    client.exchange_code(anaf_sandbox.authorize())
    assert '"refresh_token"' in database["tokens"]
    elsewhere = anaf.Client(**options)  # another worker: loads from the database
    assert elsewhere.hello("db").startswith("Hello")
    failing["save"] = True
    with pytest.raises(anaf.InternalError) as refused:
        client.refresh()
    assert "database is down" in str(refused.value)
    assert client.token_status().unsaved
    failing["save"] = False
    client.save_tokens()
    assert not client.token_status().unsaved
    assert client.tokens_json() == database["tokens"]
    client.clear_tokens()
    assert "tokens" not in database
    deadline = time.monotonic() + 5
    while "save_failed" not in [e["event"] for e in events] and time.monotonic() < deadline:
        time.sleep(0.01)
    kinds = [e["event"] for e in events]
    assert "changed" in kinds and "save_failed" in kinds
    assert all("refresh_token" not in str(e) for e in events)


def test_a_failing_load_is_an_internal_error(anaf_sandbox: anaf.Sandbox) -> None:
    def load() -> str:
        raise RuntimeError("no database")

    client = anaf.Client(**anaf_sandbox.client_options(), token_load=load, token_save=lambda _: None)
    with pytest.raises(anaf.InternalError, match="no database"):
        client.hello("x")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is a Unix call")
# Python 3.12+ warns about forking a process with threads: that is the case under test.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_worker_uses_the_client(anaf_sandbox: anaf.Sandbox, client: anaf.Client) -> None:
    client.hello("parent")  # the pool and runtime exist before the fork
    pid = os.fork()
    if pid == 0:
        try:
            ok = client.hello("child").startswith("Hello, child")
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert client.hello("parent again").startswith("Hello")


def test_logs_reach_python_logging_without_secrets(
    anaf_sandbox: anaf.Sandbox, client: anaf.Client, caplog: pytest.LogCaptureFixture
) -> None:
    access_token = __import__("json").loads(client.tokens_json() or "{}")["access_token"]
    anaf.log_to_python(5)
    try:
        with caplog.at_level(5):
            client.hello("logged")
    finally:
        anaf.log_to_python(None)
    answered = [r for r in caplog.records if r.getMessage().startswith("answered")]
    assert answered and answered[0].name.startswith("anaf")
    assert 'operation="hello"' in answered[0].getMessage() and "status=200" in answered[0].getMessage()
    assert all(access_token not in r.getMessage() for r in caplog.records)
    caplog.clear()
    client.hello("quiet")
    assert [r for r in caplog.records if r.name.startswith("anaf")] == []


def test_the_desktop_login_through_the_loopback_listener(anaf_sandbox: anaf.Sandbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = anaf_sandbox.register_app(
        {"name": "Desktop", "redirect_uris": [f"https://localhost:{port}/anaf/callback"], "services": ["efactura"]}
    )
    client = anaf.Client(
        base_url=anaf_sandbox.base_url, client_id=app["client_id"], client_secret=app["client_secret"],
        redirect_uri=app["redirect_uris"][0],
    )
    urls: queue.Queue[str] = queue.Queue()
    outcome: dict[str, object] = {}

    def login() -> None:
        try:
            outcome["tokens"] = client.login_interactive(open_browser=False, timeout=20, on_url=urls.put)
        except anaf.AnafError as error:
            outcome["error"] = error

    thread = threading.Thread(target=login)
    thread.start()
    page = play_the_browser(anaf_sandbox, urls.get(timeout=10))
    thread.join(20)
    assert "Autentificare reusita" in page
    tokens = outcome.get("tokens")
    assert isinstance(tokens, anaf.TokenInfo), outcome
    assert client.hello("desktop").startswith("Hello, desktop")


def play_the_browser(sandbox: anaf.Sandbox, authorization_url: str) -> str:
    """Approves on the sandbox's authorization page as the user would, then follows the
    redirect to the login's HTTPS listener (its certificate is self-signed, as a browser
    would warn) and returns the page it shows."""
    page = urllib.request.urlopen(authorization_url).read().decode()
    fields = dict(re.findall(r'name="(client_id|redirect_uri|state|token_content_type)" value="([^"]*)"', page))
    form = {k: html.unescape(v) for k, v in fields.items()}
    form.update(serial=sandbox.info()["identity"]["serial"], action="approve")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(
        f"{sandbox.base_url}/anaf-oauth2/v1/authorize", data=urllib.parse.urlencode(form).encode()
    )
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(request)
    assert redirect.value.code == 302
    callback = redirect.value.headers["Location"]
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    return str(urllib.request.urlopen(callback, context=insecure).read().decode())


def test_submit_sends_once_and_settles_a_lost_answer(anaf_sandbox: anaf.Sandbox, tmp_path: "os.PathLike[str]") -> None:
    database = str(os.path.join(tmp_path, "state.db"))
    client = anaf.Client(**anaf_sandbox.client_options(), max_retries=0, state_database=database)
    client.exchange_code(anaf_sandbox.authorize())
    # ANAF stores the invoice, then the answer is lost.
    anaf_sandbox.inject_fault("efactura.upload", {"kind": "accept_then_drop"}, times=1)
    record = client.submit(invoice("PY-SUBMIT-1"), SELLER)
    assert record.state == "unknown"
    assert record.last_error is not None and record.last_error["upload_outcome_unknown"] is True
    # Another process (a second client on the same database file) settles it from ANAF's list.
    other = anaf.Client(**anaf_sandbox.client_options(), max_retries=0, state_database=database)
    other.exchange_code(anaf_sandbox.authorize())
    settled = other.resume_submissions()
    assert [r.state for r in settled] == ["uploaded"]
    copies = [u for u in anaf_sandbox.uploads(SELLER) if u["document_number"] == "PY-SUBMIT-1"]
    assert len(copies) == 1 and settled[0].upload_id == copies[0]["upload_id"]
    assert settled[0].invoice_number == "PY-SUBMIT-1" and settled[0].attempts == 1
    assert isinstance(settled[0].created_at, dt.datetime)
    again = client.submit(invoice("PY-SUBMIT-1"), SELLER)
    assert again.state == "uploaded" and again.upload_id == settled[0].upload_id
    assert [r.key for r in client.submissions(SELLER, "uploaded")] == [record.key]
    usage = {u.counter: u for u in client.quota_usage()}
    assert usage["list_paged"].used >= 1 and usage["list_paged"].scope == "cif"
    assert usage["list_paged"].resets_at > dt.datetime.now(dt.timezone.utc)
    with pytest.raises(anaf.InvalidInputError) as no_database:
        anaf.Client(**anaf_sandbox.client_options()).submit(invoice("PY-SUBMIT-2"), SELLER)
    assert no_database.value.field == "state"


def test_tokens_in_the_state_database_are_one_login_for_every_program(
    anaf_sandbox: anaf.Sandbox, tmp_path: "os.PathLike[str]"
) -> None:
    database = str(os.path.join(tmp_path, "state.db"))
    first = anaf.Client(**anaf_sandbox.client_options(), state_database=database, database_tokens="company-42")
    first.exchange_code(anaf_sandbox.authorize())
    del first
    # A program started later (or on another machine, with postgres://) uses that login.
    later = anaf.Client(**anaf_sandbox.client_options(), state_database=database, database_tokens="company-42")
    assert later.hello("later").startswith("Hello, later")
    other = anaf.Client(**anaf_sandbox.client_options(), state_database=database, database_tokens="company-43")
    with pytest.raises(anaf.UnauthorizedError):
        other.hello("other")
    with pytest.raises(anaf.InvalidInputError):
        anaf.Client(**anaf_sandbox.client_options(), database_tokens="company-42")
    with pytest.raises(anaf.InvalidInputError):
        anaf.Client(
            **anaf_sandbox.client_options(),
            state_database=database,
            database_tokens="company-42",
            token_file=str(os.path.join(tmp_path, "tokens.json")),
        )


def test_sync_archives_each_message_once_with_progress(
    anaf_sandbox: anaf.Sandbox, tmp_path: "os.PathLike[str]"
) -> None:
    client = anaf.Client(**anaf_sandbox.client_options())
    client.exchange_code(anaf_sandbox.authorize())
    anaf_sandbox.seed_received_invoices(BUYER, 6, days_back=3)
    seen: list[anaf.SyncProgress] = []
    folder = os.path.join(tmp_path, "arhiva")
    report = client.sync(BUYER, folder, filter="received", on_progress=seen.append)
    assert isinstance(report, anaf.SyncReport) and report.failures == ()
    assert report.progress.archived == 6 and report.progress.listed == 6
    assert isinstance(report.window_start, dt.datetime)
    assert seen and seen[-1] == report.progress and all(isinstance(p, anaf.SyncProgress) for p in seen)
    folders = [
        os.path.join(month, name)
        for month in (os.path.join(folder, BUYER, "received", m) for m in os.listdir(os.path.join(folder, BUYER, "received")))
        for name in os.listdir(month)
    ]
    assert len(folders) == 6
    assert all(os.path.exists(os.path.join(f, "message.json")) for f in folders)
    again = client.sync(BUYER, folder)
    assert (again.progress.archived, again.progress.already_archived) == (0, 6)
    with pytest.raises(anaf.InvalidInputError):
        client.sync(BUYER, folder, filter="everything")


def test_the_quota_ledger_refuses_a_call_over_its_limit(anaf_sandbox: anaf.Sandbox) -> None:
    client = anaf.Client(**anaf_sandbox.client_options(), state_database="sqlite::memory:", daily_limit=1)
    client.exchange_code(anaf_sandbox.authorize())
    client.list_messages(SELLER, 1)
    with pytest.raises(anaf.QuotaExhaustedError) as refused:
        client.list_messages(SELLER, 1)
    assert refused.value.limit == 1 and refused.value.limit_scope == "cif"
    assert refused.value.retry_after is not None and refused.value.retry_after > 0
