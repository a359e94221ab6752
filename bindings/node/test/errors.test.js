'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { anaf, SELLER, invoice, loggedIn } = require('./helpers.js')

async function rejectsWith(promise, expected) {
  let error
  try {
    await promise
  } catch (e) {
    error = e
  }
  assert.ok(error instanceof anaf.AnafError, `expected an AnafError, got ${error}`)
  assert.ok(error instanceof Error)
  for (const [key, value] of Object.entries(expected)) assert.deepEqual(error[key], value, key)
  return error
}

test("ANAF's errors keep their code, status and Romanian text", async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const client = await loggedIn(sandbox)
  const missing = await rejectsWith(client.status(15000), {
    code: 'not_found',
    status: 200,
    anafMessage: 'Nu exista factura cu id_incarcare= 15000',
  })
  assert.match(missing.message, /Nu exista factura/)
  assert.equal(missing.details.kind, 'not_found')
  await rejectsWith(client.listMessages('33333338', 1), {
    code: 'no_cif_right',
    anafMessage: 'Nu aveti drept in SPV pentru CIF=33333338',
  })
  const garbage = await rejectsWith(client.upload(Buffer.from('not xml'), SELLER), {
    code: 'invalid_input',
    field: 'xml',
  })
  assert.match(garbage.anafMessage, /^Fisierul transmis/)
  await rejectsWith(client.listMessages(SELLER, 1, 'everything'), { code: 'invalid_input', field: 'filter' })
  await rejectsWith(client.exchangeCode('not-a-code'), { code: 'oauth' })
  for (const [status, code] of [
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [429, 'rate_limited'],
  ]) {
    sandbox.injectFault('hello', { kind: 'status', status }, 3)
    await rejectsWith(client.hello('x'), { code, status })
    sandbox.clearFaults()
  }
  sandbox.injectFault('hello', { kind: 'waf_block' }, 1)
  await rejectsWith(client.hello('x'), { code: 'waf_rejected' })
  sandbox.injectFault('hello', { kind: 'reset' }, 1)
  await rejectsWith(client.hello('x'), { code: 'transport', transient: true })
  sandbox.injectFault('efactura.status', { kind: 'reply', status: 200, contentType: 'text/plain', body: '?' }, 1)
  await rejectsWith(client.status(1), { code: 'unexpected_response' })
  assert.throws(() => anaf.validateCif('RO 123'), { code: 'invalid_input' })
  assert.throws(() => new anaf.Client({ clientId: 'only-this' }), { code: 'invalid_input' })
  // Errors of other kinds pass through unchanged.
  await assert.rejects(client.status('not a number'), (e) => !(e instanceof anaf.AnafError))
})

test('daily limits, expired downloads, duplicates and timeouts', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true, dailyLimits: { efacturaStatus: 1 } })
  t.after(() => sandbox.stop())
  const client = await loggedIn(sandbox)
  const receipt = await client.upload(invoice('JS-L-1'), SELLER)
  const state = await client.status(receipt.uploadId)
  const limited = await rejectsWith(client.status(receipt.uploadId), { code: 'daily_limit', limit: 1 })
  assert.match(limited.anafMessage, /in cursul zilei/)
  assert.ok(limited.limitScope)
  const first = await client.uploadAndWait(invoice('JS-D-1'), SELLER)
  const second = await client.uploadAndWait(invoice('JS-D-1'), SELLER)
  assert.equal(second.state.state, 'nok')
  const duplicate = (await client.download(second.state.downloadId)).error()
  assert.ok(duplicate instanceof anaf.AnafError)
  assert.equal(duplicate.code, 'duplicate_invoice')
  assert.equal(duplicate.previousUploadId, first.receipt.uploadId)
  assert.ok((await client.download(second.state.downloadId)).errorReport().messages.length >= 1)
  sandbox.advanceClock(61 * 86400)
  await client.exchangeCode(sandbox.authorize())
  await rejectsWith(client.download(state.downloadId), { code: 'download_expired' })

  const impatient = await loggedIn(sandbox, { timeout: 300 })
  sandbox.injectFault('hello', { kind: 'latency', ms: 3000 }, 1)
  await rejectsWith(impatient.hello('slow'), { code: 'timeout' })
})

test('an identity without rights on any CIF', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const nobody = sandbox.addIdentity({ name: 'Nimeni', cifs: [], services: ['efactura'] })
  const app = sandbox.info().application
  const code = sandbox.authorize({ clientId: app.clientId, redirectUri: app.redirectUris[0], serial: nobody.serial })
  const client = new anaf.Client(sandbox.clientOptions())
  await client.exchangeCode(code)
  await rejectsWith(client.listMessages(SELLER, 1), { code: 'no_cif_rights' })
})

test('a client that never logged in is unauthorized', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const fresh = new anaf.Client(sandbox.clientOptions())
  await rejectsWith(fresh.hello('nobody'), { code: 'unauthorized' })
  assert.throws(() => fresh.helloSync('nobody'), { code: 'unauthorized' })
})
