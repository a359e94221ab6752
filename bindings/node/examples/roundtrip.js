// CommonJS: log in to the embedded sandbox, send an invoice, follow it, download the answer.
const { Client, Sandbox, AnafError } = require('anaf')

async function main() {
  const sandbox = new Sandbox({ instant: true })
  try {
    const client = new Client(sandbox.clientOptions())
    await client.exchangeCode(sandbox.authorize()) // a real program: authorizationUrl + completeAuthorization
    const xml = Sandbox.sampleInvoice('EX-CJS-1', '8000000000', '12345674')
    const receipt = await client.upload(xml, '8000000000')
    const state = await client.status(receipt.uploadId)
    const archive = await client.download(state.downloadId)
    console.log(`upload ${receipt.uploadId}: ${state.state}, ${archive.zip.length} bytes of ZIP`)
    try {
      await client.status(15000)
    } catch (error) {
      if (!(error instanceof AnafError)) throw error
      console.log(`${error.code}: ${error.anafMessage}`)
    }
    console.log('roundtrip.js: ok')
  } finally {
    sandbox.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
