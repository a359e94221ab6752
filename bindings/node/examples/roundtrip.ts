// TypeScript (checked with `tsc --noEmit --strict`): typed results and errors.
import { AnafError, Archive, Client, Sandbox, type Message, type UploadState } from 'anaf'

async function main(): Promise<void> {
  const sandbox = new Sandbox({ instant: true })
  try {
    const client = new Client({ ...sandbox.clientOptions(), timeout: 30_000 })
    await client.exchangeCode(sandbox.authorize())
    const xml: string = Sandbox.sampleInvoice('EX-TS-1', '8000000000', '12345674')
    const receipt = await client.upload(Buffer.from(xml), '8000000000')
    const state: UploadState = await client.status(receipt.uploadId)
    if (state.downloadId === null) throw new Error(`no answer yet: ${state.state}`)
    const archive: Archive = await client.download(state.downloadId)
    const messages: Message[] = await client.listMessages('8000000000', 1, 'sent')
    const when: Date | null = messages[0]?.createdAt ?? null
    console.log(`upload ${receipt.uploadId}: ${state.state}, ${archive.zip.length} bytes, listed at ${when?.toISOString()}`)
    try {
      await client.status(15000)
    } catch (error) {
      if (error instanceof AnafError && error.code === 'not_found') console.log(`${error.code}: ${error.anafMessage}`)
      else throw error
    }
    console.log('roundtrip.ts: ok')
  } finally {
    sandbox.stop()
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
