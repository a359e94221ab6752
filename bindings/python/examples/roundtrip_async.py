"""The same round trip with asyncio: a hundred status calls at once, and every page of the
message list with `async for`."""

import asyncio
import datetime as dt

import anaf


async def main(sandbox: anaf.Sandbox) -> None:
    client = anaf.AsyncClient(**sandbox.client_options())
    await client.exchange_code(sandbox.authorize())
    receipt = await client.upload(anaf.Sandbox.sample_invoice("F-2026-002", "8000000000", "12345674"), "8000000000")
    states = await asyncio.gather(*(client.status(receipt.upload_id) for _ in range(100)))
    print(len(states), "answers, all", {s.state for s in states})
    sandbox.seed_received_invoices("8000000000", 40, days_back=5)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=7)
    async for page in client.messages("8000000000", start, filter="received"):
        print("page", page.page, "of", page.total_pages, ":", len(page.messages), "messages")


with anaf.Sandbox(instant=True, per_minute_limit=100_000) as sandbox:
    asyncio.run(main(sandbox))
print("python async example: done")
