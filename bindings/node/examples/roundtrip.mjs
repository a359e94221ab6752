// ES module: the same round trip, with top-level await and an AbortSignal.
import { Client, Sandbox, AnafError } from 'anaf'

const sandbox = new Sandbox({ instant: true })
try {
  const client = new Client(sandbox.clientOptions())
  await client.exchangeCode(sandbox.authorize())
  const xml = Sandbox.sampleInvoice('EX-ESM-1', '8000000000', '12345674')
  const submission = await client.uploadAndWait(xml, '8000000000', { signal: AbortSignal.timeout(30_000) })
  const archive = await client.download(submission.state.downloadId)
  console.log(`upload ${submission.receipt.uploadId}: ${submission.state.state}, document ${archive.documentName}`)
  for await (const page of client.messages('8000000000', new Date(Date.now() - 86_400_000))) {
    console.log(`page ${page.page}/${page.totalPages}: ${page.messages.length} message(s)`)
  }
  const missing = await client.status(15000).catch((error) => error)
  console.log(missing instanceof AnafError ? `${missing.code}: ${missing.anafMessage}` : missing)
  console.log('roundtrip.mjs: ok')
} finally {
  sandbox.stop()
}
