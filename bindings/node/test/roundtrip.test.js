'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { anaf, SELLER, invoice, loggedIn } = require('./helpers.js')

test('a full round trip, results typed, the ZIP byte-exact', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const client = await loggedIn(sandbox)
  assert.match(await client.hello('node'), /^Hello, node/)
  const receipt = await client.upload(invoice('JS-1'), SELLER)
  assert.equal(typeof receipt.uploadId, 'number')
  const state = await client.status(receipt.uploadId)
  assert.equal(state.state, 'ok')
  const archive = await client.download(state.downloadId)
  assert.ok(archive instanceof anaf.Archive)
  assert.ok(Buffer.isBuffer(archive.zip))
  assert.equal(archive.zip.subarray(0, 2).toString(), 'PK')
  assert.equal(archive.uploadId, receipt.uploadId)
  assert.match(archive.document().toString(), /JS-1/)
  assert.equal(archive.errorReport(), null)
  assert.equal(archive.error(), null)
  const summary = archive.invoiceSummary()
  assert.equal(summary.number, 'JS-1')
  assert.equal(summary.payable, '238.00')
  assert.equal(summary.seller.vatId, `RO${SELLER}`)
  assert.equal(summary.issueDate.length, 10, 'a calendar day stays "YYYY-MM-DD"')
  const reopened = anaf.Archive.fromBuffer(archive.zip)
  assert.deepEqual(reopened.zip, archive.zip)
  assert.deepEqual(reopened.document(), archive.document())
  const path = require('node:path').join(require('node:os').tmpdir(), `anaf-node-${process.pid}.zip`)
  require('node:fs').writeFileSync(path, archive.zip)
  t.after(() => require('node:fs').rmSync(path, { force: true }))
  assert.deepEqual(anaf.Archive.open(path).signature(), archive.signature())
  const verdict = await client.verifySignature(archive.document(), archive.signature())
  assert.equal(verdict.valid, true, verdict.message)

  const messages = await client.listMessages(SELLER, 1, 'sent')
  assert.deepEqual(messages.map((m) => m.uploadId), [receipt.uploadId])
  assert.ok(messages[0].createdAt instanceof Date)
  assert.equal(typeof messages[0].rawCreatedAt, 'string')
  const now = new Date()
  const page = await client.listMessagesPage(SELLER, new Date(now - 86400e3), now, 1)
  assert.ok(page.messages.length >= 1 && page.totalPages >= 1)

  assert.equal((await client.validate(Buffer.from(invoice('JS-2')))).valid, true)
  const pdf = await client.toPdf(invoice('JS-3'))
  assert.ok(Buffer.isBuffer(pdf) && pdf.subarray(0, 4).toString() === '%PDF')

  const transport = await client.etransportUpload(anaf.Sandbox.sampleTransport(SELLER, 'JS-TR-1'), SELLER)
  assert.ok(transport.uit)
  assert.equal((await client.etransportStatus(transport.uploadId)).state, 'ok')
  const records = await client.etransportList(SELLER, 1)
  assert.deepEqual(records.map((r) => r.uploadId), [transport.uploadId])
  assert.ok(records[0].createdAt instanceof Date)
  // ANAF's own record keeps its keys as ANAF wrote them; only the client's fields are camelCase.
  assert.equal(records[0].raw.id_incarcare, String(transport.uploadId))
  assert.equal(records[0].raw.idIncarcare, undefined)
  const byUit = await client.etransportInfo(SELLER, { uit: transport.uit })
  assert.deepEqual(byUit.map((r) => r.uit), [transport.uit])

  const found = await client.lookupTaxpayers([SELLER, '19'])
  assert.deepEqual(found.notFound, ['19'])
  assert.equal(found.found[0].cif, SELLER)
  assert.match(found.found[0].date, /^\d{4}-\d{2}-\d{2}$/)
  const register = await client.lookupEfacturaRegister([SELLER])
  assert.equal(register.found[0].cif, SELLER)
  assert.equal(anaf.validateCif('RO 8000000000'), SELLER)

  // What the sandbox received is byte for byte what was sent, and what the archive holds.
  const sha256 = (bytes) => require('node:crypto').createHash('sha256').update(bytes).digest('hex')
  const record = sandbox.uploads(SELLER).find((u) => u.uploadId === receipt.uploadId)
  assert.equal(record.sha256, sha256(invoice('JS-1')))
  assert.equal(sha256(archive.document()), record.sha256)
  assert.ok(record.receivedAt instanceof Date)
  const status = await client.tokenStatus()
  assert.equal(status.loggedIn, true)
  assert.ok(status.tokens.expiresAt instanceof Date)
  assert.equal(await client.revoke(), 'confirmed')
  await assert.rejects(client.hello('after revoke'), { name: 'AnafError', code: 'unauthorized' })
})

test('the Sync twins give the same results', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const client = new anaf.Client({ ...sandbox.clientOptions(), maxRetries: 0 })
  client.exchangeCodeSync(sandbox.authorize())
  assert.match(client.helloSync('sync'), /^Hello, sync/)
  const submission = client.uploadAndWaitSync(invoice('JS-S-1'), SELLER)
  assert.equal(submission.state.state, 'ok')
  assert.equal(client.statusSync(submission.receipt.uploadId).state, 'ok')
  const archive = client.downloadSync(submission.state.downloadId)
  assert.deepEqual(archive.zip, (await client.download(submission.state.downloadId)).zip)
  assert.equal(client.listMessagesSync(SELLER, 1).length, 1)
  assert.equal(client.validateSync(invoice('JS-S-2')).valid, true)
  assert.ok(Buffer.isBuffer(client.toPdfSync(invoice('JS-S-3'))))
  const transport = client.etransportUploadSync(anaf.Sandbox.sampleTransport(SELLER, 'JS-S-TR'), SELLER)
  assert.equal(client.etransportStatusSync(transport.uploadId).state, 'ok')
  assert.equal(client.etransportListSync(SELLER, 1).length, 1)
  assert.equal(client.lookupTaxpayersSync([SELLER]).found.length, 1)
  assert.ok(client.tokenStatusSync().loggedIn)
  assert.throws(() => client.statusSync(15000), { code: 'not_found' })
})

test('the async iterator reads every page, and says the interval it really listed', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const client = await loggedIn(sandbox)
  sandbox.seedReceivedInvoices(SELLER, 30, 3)
  const start = new Date(Date.now() - 5 * 86400e3)
  let count = 0
  let pages = 0
  for await (const page of client.messages(SELLER, start, undefined, 'received')) {
    pages += 1
    count += page.messages.length
  }
  assert.ok(pages >= 1)
  // The newest seeded ones may fall inside the last minute, which the stream leaves out.
  assert.ok(count >= 25 && count <= 30, `${count}`)
  const tooOld = new Date(Date.now() - 90 * 86400e3)
  const stream = client.messages(SELLER, tooOld)
  const first = await stream.nextPage()
  assert.ok(first && Array.isArray(first.messages))
  assert.ok(stream.effectiveStart instanceof Date)
  assert.ok(stream.effectiveStart - tooOld > 29 * 86400e3)
  assert.ok(stream.effectiveEnd instanceof Date && stream.effectiveEnd <= new Date())
  assert.throws(() => client.messages(SELLER, 'yesterday'), { code: 'invalid_input' })
})

test('uploadAndWait follows its options', async (t) => {
  const sandbox = new anaf.Sandbox({ processingDelayMs: 60000 })
  t.after(() => sandbox.stop())
  const client = await loggedIn(sandbox)
  const submission = await client.uploadAndWait(invoice('JS-W-1'), SELLER, {
    firstPoll: 0,
    maxInterval: 50,
    maxPolls: 2,
  })
  assert.equal(submission.state.state, 'in_progress')
  assert.equal(submission.polls, 2)
  assert.equal(sandbox.uploads(SELLER).length, 1)
})

test('the sandbox from JavaScript: apps, identities, the clock, the request log', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  assert.match(sandbox.baseUrl, /^http:\/\/127\.0\.0\.1:\d+/)
  const info = sandbox.info()
  assert.ok(info.application.clientId && info.identity.serial)
  const app = sandbox.registerApp({ name: 'ERP', redirectUris: ['https://erp.example/cb'], services: ['efactura'] })
  assert.ok(app.clientId && app.clientSecret)
  const code = sandbox.authorize({ clientId: app.clientId, redirectUri: app.redirectUris[0], serial: info.identity.serial })
  const client = new anaf.Client({
    baseUrl: sandbox.baseUrl,
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: app.redirectUris[0],
  })
  await client.exchangeCode(code)
  await client.hello('log')
  assert.ok(sandbox.requests().length >= 2)
  const url = client.authorizationUrl('s-1')
  assert.equal(url.state, 's-1')
  assert.match(url.url, /^http/)
  assert.throws(() => sandbox.injectFault('hello', { kind: 'nonsense' }), { code: 'invalid_input' })
})

test('the desktop login through the loopback listener, driven as a browser would', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const port = await freePort()
  const app = sandbox.registerApp({
    name: 'Desktop',
    redirectUris: [`https://localhost:${port}/anaf/callback`],
    services: ['efactura'],
  })
  const client = new anaf.Client({
    baseUrl: sandbox.baseUrl,
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: app.redirectUris[0],
  })
  let authorizationUrl
  const urlShown = new Promise((resolve) => {
    authorizationUrl = resolve
  })
  const login = client.loginInteractive({ openBrowser: false, timeout: 20000, onUrl: authorizationUrl })
  const page = await playTheBrowser(sandbox, await urlShown)
  const tokens = await login
  assert.match(page, /Autentificare reusita/)
  assert.ok(tokens.expiresAt instanceof Date)
  assert.match(await client.hello('desktop'), /^Hello, desktop/)
})

function freePort() {
  return new Promise((resolve, reject) => {
    const server = require('node:net').createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/**
 * Approves on the sandbox's authorization page as the user would, then follows the redirect
 * to the login's HTTPS listener (its certificate is self-signed, as a browser would warn) and
 * returns the page it shows.
 */
async function playTheBrowser(sandbox, authorizationUrl) {
  const page = await (await fetch(authorizationUrl)).text()
  const form = new URLSearchParams()
  for (const [, name, value] of page.matchAll(/name="(client_id|redirect_uri|state|token_content_type)" value="([^"]*)"/g)) {
    form.set(name, value.replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#x27;', "'"))
  }
  form.set('serial', sandbox.info().identity.serial)
  form.set('action', 'approve')
  const approved = await fetch(`${sandbox.baseUrl}/anaf-oauth2/v1/authorize`, { method: 'POST', body: form, redirect: 'manual' })
  assert.equal(approved.status, 302)
  const callback = approved.headers.get('location')
  return new Promise((resolve, reject) => {
    require('node:https')
      .get(callback, { rejectUnauthorized: false }, (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk) => (body += chunk))
        response.on('end', () => resolve(body))
      })
      .on('error', reject)
  })
}
