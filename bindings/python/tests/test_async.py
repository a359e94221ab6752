"""The asyncio client against the embedded sandbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import os

import pytest

import anaf

SELLER, BUYER = "8000000000", "12345674"


async def logged_in(sandbox: anaf.Sandbox) -> anaf.AsyncClient:
    client = anaf.AsyncClient(**sandbox.client_options(), max_retries=0, limit_requests=False)
    await client.exchange_code(sandbox.authorize())
    return client


def test_round_trip(anaf_sandbox: anaf.Sandbox) -> None:
    async def main() -> None:
        client = await logged_in(anaf_sandbox)
        xml = anaf.Sandbox.sample_invoice("PYA-1", SELLER, BUYER)
        submission = await client.upload_and_wait(xml, SELLER)
        assert submission.state.state == "ok"
        archive = await client.download(submission.state.download_id)
        assert archive.zip[:2] == b"PK"
        messages = await client.list_messages(SELLER, 1)
        assert submission.receipt.upload_id in [m.upload_id for m in messages]
        anaf_sandbox.seed_received_invoices(SELLER, 10, days_back=2)
        start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
        pages = [page async for page in client.messages(SELLER, start, filter="received")]
        assert 8 <= sum(len(p.messages) for p in pages) <= 10
        with pytest.raises(anaf.NotFoundError) as missing:
            await client.status(15000)
        assert missing.value.anaf_message == "Nu exista factura cu id_incarcare= 15000"

    asyncio.run(main())


def test_a_hundred_calls_at_once(anaf_sandbox: anaf.Sandbox) -> None:
    async def main() -> None:
        client = await logged_in(anaf_sandbox)
        greetings = await asyncio.gather(*(client.hello(f"n{i}") for i in range(100)))
        assert [g.split("\n")[0] for g in greetings] == [f"Hello, n{i}" for i in range(100)]

    asyncio.run(main())


def test_cancelling_the_task_cancels_the_call(anaf_sandbox: anaf.Sandbox) -> None:
    async def main() -> None:
        client = await logged_in(anaf_sandbox)
        anaf_sandbox.inject_fault("hello", {"kind": "latency", "ms": 5000}, times=1)
        task = asyncio.ensure_future(client.hello("slow"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The loop is free and the client usable at once.
        assert (await asyncio.wait_for(client.hello("next"), 3)).startswith("Hello, next")

    asyncio.run(main())


def test_the_event_loop_runs_while_a_call_waits(anaf_sandbox: anaf.Sandbox) -> None:
    async def main() -> None:
        client = await logged_in(anaf_sandbox)
        anaf_sandbox.inject_fault("hello", {"kind": "latency", "ms": 500}, times=1)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        running = asyncio.ensure_future(ticker())
        await client.hello("slow")
        running.cancel()
        assert ticks >= 10

    asyncio.run(main())


def test_async_token_callables_run_on_the_loop(anaf_sandbox: anaf.Sandbox) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        database: dict[str, str] = {}
        events: list[str] = []
        failing = False

        async def load() -> str | None:
            assert asyncio.get_running_loop() is loop
            await asyncio.sleep(0)  # a real database driver awaits here
            return database.get("tokens")

        async def save(tokens_json: str) -> None:
            assert asyncio.get_running_loop() is loop
            await asyncio.sleep(0)
            if failing:
                raise RuntimeError("database is down")
            database["tokens"] = tokens_json

        async def on_event(event: dict[str, object]) -> None:
            events.append(str(event["event"]))

        options = dict(anaf_sandbox.client_options(), token_load=load, token_save=save, on_token_event=on_event)
        client = anaf.AsyncClient(**options, limit_requests=False)
        await client.exchange_code(anaf_sandbox.authorize())
        assert '"refresh_token"' in database["tokens"]
        other_worker = anaf.AsyncClient(**options, limit_requests=False)
        assert (await other_worker.hello("db")).startswith("Hello")
        failing = True
        with pytest.raises(anaf.InternalError, match="database is down"):
            await client.refresh()
        assert (await client.token_status()).unsaved
        failing = False
        await client.save_tokens()
        assert not (await client.token_status()).unsaved
        assert await client.tokens_json() == database["tokens"]
        for _ in range(500):
            if "save_failed" in events:
                break
            await asyncio.sleep(0.01)
        assert "changed" in events and "save_failed" in events

    asyncio.run(main())


def test_the_async_client_mirrors_the_blocking_one() -> None:
    import inspect

    for name, method in vars(anaf.Client).items():
        if name.startswith("_"):
            continue
        twin = getattr(anaf.AsyncClient, name)
        assert inspect.iscoroutinefunction(twin), name
        assert inspect.signature(twin) == inspect.signature(method), name
    for name in ("authorization_url", "messages"):
        assert not inspect.iscoroutinefunction(getattr(anaf.AsyncClient, name))


def test_calls_work_with_asyncios_helpers(anaf_sandbox: anaf.Sandbox) -> None:
    async def main() -> None:
        client = await logged_in(anaf_sandbox)
        anaf_sandbox.inject_fault("hello", {"kind": "latency", "ms": 5000}, times=1)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.hello("slow"), 0.2)
        done, pending = await asyncio.wait([asyncio.ensure_future(client.hello("w"))], timeout=5)
        assert len(done) == 1 and not pending
        assert (await asyncio.shield(client.hello("shielded"))).startswith("Hello, shielded")
        # Without the loop's socket (Windows' default loop), calls settle through
        # call_soon_threadsafe: the same results and errors.
        call = client._native.hello("fallback")
        future = call.start()
        assert asyncio.isfuture(future)
        assert (await future).startswith("Hello, fallback")
        with pytest.raises(anaf.NotFoundError):
            await client._native.status(15000).start()

    asyncio.run(main())


def test_submit_from_asyncio(anaf_sandbox: anaf.Sandbox) -> None:
    async def main() -> None:
        client = anaf.AsyncClient(
            **anaf_sandbox.client_options(), max_retries=0, state_database="sqlite::memory:"
        )
        await client.exchange_code(anaf_sandbox.authorize())
        xml = anaf.Sandbox.sample_invoice("PYA-SUBMIT-1", SELLER, BUYER)
        first = await client.submit(xml, SELLER)
        assert first.state == "uploaded" and first.upload_id is not None
        again = await client.submit(xml, SELLER)
        assert again.upload_id == first.upload_id and again.attempts == 1
        assert [r.key for r in await client.submissions()] == [first.key]
        assert await client.resume_submissions() == []
        assert await client.quota_usage() == []  # an invoice upload counts against no limit

    asyncio.run(main())


def test_sync_from_asyncio(anaf_sandbox: anaf.Sandbox, tmp_path: "os.PathLike[str]") -> None:
    async def main() -> None:
        client = await logged_in(anaf_sandbox)
        anaf_sandbox.seed_received_invoices(SELLER, 3, days_back=2)
        report = await client.sync(SELLER, tmp_path, filter="received")
        assert report.progress.archived == 3 and report.failures == ()
        again = await client.sync(SELLER, tmp_path, filter="received")
        assert again.progress.already_archived == 3

    asyncio.run(main())
