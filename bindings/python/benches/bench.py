"""The Python side of BENCHMARKS.md ("Python"), run by scripts/bench-python:

    bench.py status N       blocking `Client.status`, N calls after 300 warm-up ones: median
    bench.py async N        `await AsyncClient.status`, one at a time: median
    bench.py threads N      N calls of `Client.hello` spread over 1, then 8 threads, against a
                            sandbox answering after 20 ms: calls per second of each

Each run starts its own in-process sandbox, set up as the Rust baseline sets up its own
(crates/anaf-ffi/benches/status_baseline.rs).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time

import anaf

WARMUP = 300


def setup(sandbox: anaf.Sandbox) -> tuple[dict[str, str], int]:
    options = sandbox.client_options()
    client = anaf.Client(**options, limit_requests=False)
    client.exchange_code(sandbox.authorize())
    xml = anaf.Sandbox.sample_invoice("B-1", "8000000000", "12345674")
    upload_id = client.upload(xml, "8000000000").upload_id
    return dict(options, tokens=client.tokens_json() or ""), upload_id


def blocking(rounds: int) -> None:
    with anaf.Sandbox(instant=True, per_minute_limit=1_000_000, daily_limits={"efactura_status": 100_000_000}) as sandbox:
        client = anaf.Client(**sandbox.client_options(), limit_requests=False)
        client.exchange_code(sandbox.authorize())
        upload_id = client.upload(anaf.Sandbox.sample_invoice("B-1", "8000000000", "12345674"), "8000000000").upload_id
        times = []
        for i in range(WARMUP + rounds):
            started = time.perf_counter()
            client.status(upload_id)
            if i >= WARMUP:
                times.append(time.perf_counter() - started)
        print(f"Python status median {statistics.median(times) * 1e6:.1f} us")


def awaited(rounds: int) -> None:
    with anaf.Sandbox(instant=True, per_minute_limit=1_000_000, daily_limits={"efactura_status": 100_000_000}) as sandbox:

        async def main() -> None:
            client = anaf.AsyncClient(**sandbox.client_options(), limit_requests=False)
            await client.exchange_code(sandbox.authorize())
            xml = anaf.Sandbox.sample_invoice("B-1", "8000000000", "12345674")
            upload_id = (await client.upload(xml, "8000000000")).upload_id
            times = []
            for i in range(WARMUP + rounds):
                started = time.perf_counter()
                await client.status(upload_id)
                if i >= WARMUP:
                    times.append(time.perf_counter() - started)
            print(f"Python async status median {statistics.median(times) * 1e6:.1f} us")

        asyncio.run(main())


def threads(calls: int) -> None:
    with anaf.Sandbox(instant=True, per_minute_limit=1_000_000, worker_threads=4) as sandbox:
        client = anaf.Client(**sandbox.client_options(), limit_requests=False)
        client.exchange_code(sandbox.authorize())
        # Every answer 20 ms late: what matters is whether callers wait in parallel.
        sandbox.inject_fault("hello", {"kind": "latency", "ms": 20})
        rates = {}
        for count in (1, 8):
            per_thread = calls // count
            workers = [threading.Thread(target=lambda: [client.hello("b") for _ in range(per_thread)]) for _ in range(count)]
            started = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            rates[count] = per_thread * count / (time.perf_counter() - started)
        print(f"hello with 20 ms latency: 1 thread {rates[1]:.0f} calls/s, 8 threads {rates[8]:.0f} calls/s"
              f" = {rates[8] / rates[1]:.2f}x")


if __name__ == "__main__":
    mode, count = sys.argv[1], int(sys.argv[2])
    {"status": blocking, "async": awaited, "threads": threads}[mode](count)
