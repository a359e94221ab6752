'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { anaf, SELLER, invoice, loggedIn } = require('./helpers.js')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

test('AbortSignal cancels a call in the core; the client works right after', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const client = await loggedIn(sandbox)
  sandbox.injectFault('hello', { kind: 'latency', ms: 3000 }, 1)
  const controller = new AbortController()
  const started = Date.now()
  setTimeout(() => controller.abort(new Error('user pressed Cancel')), 100)
  const error = await client.hello('slow', { signal: controller.signal }).catch((e) => e)
  assert.ok(error instanceof anaf.AnafError)
  assert.equal(error.code, 'cancelled')
  assert.equal(error.uploadOutcomeUnknown, false)
  assert.equal(error.cause.message, 'user pressed Cancel')
  assert.ok(Date.now() - started < 2000)
  assert.match(await client.hello('right after'), /^Hello/)

  // Already aborted: nothing is sent.
  const before = sandbox.requests().length
  await assert.rejects(client.status(1, { signal: AbortSignal.abort() }), { code: 'cancelled' })
  assert.equal(sandbox.requests().length, before)

  // An upload cancelled after it went on the wire: ANAF may have it.
  sandbox.injectFault('efactura.upload', { kind: 'latency', ms: 3000 }, 1)
  const upload = client.upload(invoice('JS-A-1'), SELLER, { signal: AbortSignal.timeout(300) })
  const unknown = await upload.catch((e) => e)
  assert.equal(unknown.code, 'cancelled')
  assert.equal(unknown.uploadOutcomeUnknown, true)
})

test('an awaited call does not block the event loop', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const client = await loggedIn(sandbox)
  sandbox.injectFault('hello', { kind: 'latency', ms: 500 }, 1)
  let ticks = 0
  const timer = setInterval(() => ticks++, 10)
  const started = Date.now()
  await client.hello('slow')
  clearInterval(timer)
  assert.ok(Date.now() - started >= 450)
  assert.ok(ticks >= 20, `only ${ticks} ticks of a 10 ms timer during a 500 ms call`)
})

test('100 concurrent calls complete', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true, perMinuteLimit: 1000000 })
  t.after(() => sandbox.stop())
  const client = await loggedIn(sandbox, { limitRequests: false })
  const receipt = await client.upload(invoice('JS-C-1'), SELLER)
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  const states = await Promise.all(Array.from({ length: 100 }, () => client.status(receipt.uploadId)))
  clearInterval(timer)
  assert.equal(states.length, 100)
  assert.ok(states.every((s) => s.state === 'ok'))
})

test('logs reach a JavaScript callback, with levels, without secrets', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const client = await loggedIn(sandbox)
  const tokens = JSON.parse(await client.tokensJson())
  const lines = []
  anaf.setLogger((line) => lines.push(line), 'trace')
  try {
    await client.hello('logged')
    await client.refresh()
    await sleep(100)
  } finally {
    anaf.setLogger(null)
  }
  const answered = lines.filter((l) => l.message.startsWith('answered'))
  assert.ok(answered.length > 0, JSON.stringify(lines))
  assert.ok(answered[0].target.startsWith('anaf'))
  assert.ok(['error', 'warn', 'info', 'debug', 'trace'].includes(answered[0].level))
  assert.match(answered[0].message, /operation="hello"/)
  const everything = JSON.stringify(lines)
  assert.ok(!everything.includes(tokens.access_token))
  assert.ok(!everything.includes(tokens.refresh_token))
  assert.ok(!everything.includes(sandbox.clientOptions().clientSecret))
  const count = lines.length
  await client.hello('quiet')
  await sleep(50)
  assert.equal(lines.length, count)
  assert.throws(() => anaf.setLogger(() => {}, 'loud'), { code: 'invalid_input' })
})
