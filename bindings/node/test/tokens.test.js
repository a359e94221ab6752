'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { anaf } = require('./helpers.js')

const tick = () => new Promise((resolve) => setTimeout(resolve, 10))

async function until(condition) {
  const deadline = Date.now() + 5000
  while (!condition() && Date.now() < deadline) await tick()
  assert.ok(condition(), 'condition not reached in 5 s')
}

test('Promise-returning token callbacks, a failing save, and the events', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const database = new Map()
  const events = []
  let failing = false
  const options = {
    ...sandbox.clientOptions(),
    tokenLoad: async () => database.get('tokens') ?? null,
    tokenSave: async (json) => {
      await tick()
      if (failing) throw new Error('database is down')
      database.set('tokens', json)
    },
    tokenClear: async () => {
      database.delete('tokens')
    },
    onTokenEvent: (event) => events.push(event),
  }
  const client = new anaf.Client(options)
  await client.exchangeCode(sandbox.authorize())
  assert.match(database.get('tokens'), /"refresh_token"/)
  const elsewhere = new anaf.Client(options) // another worker: loads from the database
  assert.match(await elsewhere.hello('db'), /^Hello/)
  failing = true
  const refused = await client.refresh().catch((e) => e)
  assert.equal(refused.code, 'internal')
  assert.match(refused.message, /database is down/)
  assert.equal((await client.tokenStatus()).unsaved, true)
  failing = false
  await client.saveTokens()
  assert.equal((await client.tokenStatus()).unsaved, false)
  assert.equal(await client.tokensJson(), database.get('tokens'))
  await client.clearTokens()
  assert.equal(database.has('tokens'), false)
  await until(() => events.some((e) => e.event === 'save_failed'))
  const kinds = events.map((e) => e.event)
  assert.ok(kinds.includes('changed'), kinds.join())
  const changed = events.find((e) => e.event === 'changed')
  assert.ok(changed.tokens.expiresAt instanceof Date)
  assert.ok(events.every((e) => !JSON.stringify(e).includes('refresh_token')))
  const failed = events.find((e) => e.event === 'save_failed')
  assert.equal(failed.error.kind, 'internal')
})

test('Sync calls run synchronous token callbacks inline, without a deadlock', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const database = new Map()
  const seen = []
  const options = {
    ...sandbox.clientOptions(),
    tokenLoad: () => {
      seen.push('load')
      return database.get('tokens')
    },
    tokenSave: (json) => {
      seen.push('save')
      database.set('tokens', json)
    },
  }
  const client = new anaf.Client(options)
  client.exchangeCodeSync(sandbox.authorize())
  assert.ok(database.has('tokens'))
  const other = new anaf.Client(options)
  assert.match(other.helloSync('sync'), /^Hello/)
  other.refreshSync()
  assert.ok(seen.includes('load') && seen.includes('save'))
  // The same client, now through the Promise API: the callbacks run from the event loop.
  assert.match(await other.hello('async'), /^Hello/)
  // Many Sync calls in a row on fresh clients, each loading through the callback.
  for (let i = 0; i < 20; i++) assert.match(new anaf.Client(options).helloSync(`n${i}`), /^Hello/)
})

test('a Promise-returning callback during a Sync call is a clear error, not a deadlock', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  let stored = null
  const client = new anaf.Client({
    ...sandbox.clientOptions(),
    tokenLoad: async () => stored,
    tokenSave: async (json) => {
      stored = json
    },
  })
  assert.throws(() => client.exchangeCodeSync(sandbox.authorize()), (e) => {
    assert.equal(e.code, 'internal')
    assert.match(e.message, /Promise API/)
    return true
  })
  // The Promise API works with the same callbacks.
  await client.exchangeCode(sandbox.authorize())
  assert.ok(stored)
})

test('a failing load is an internal error carrying its message', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const client = new anaf.Client({
    ...sandbox.clientOptions(),
    tokenLoad: () => {
      throw new Error('no database')
    },
    tokenSave: () => {},
  })
  await assert.rejects(client.hello('x'), { code: 'internal', message: /no database/ })
  assert.throws(() => client.helloSync('x'), { code: 'internal', message: /no database/ })
})

test('a token file keeps the rotated tokens across clients', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anaf-node-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const tokenFile = path.join(dir, 'tokens.json')
  const client = new anaf.Client({ ...sandbox.clientOptions(), tokenFile })
  await client.exchangeCode(sandbox.authorize())
  await client.refresh()
  const saved = JSON.parse(fs.readFileSync(tokenFile, 'utf8'))
  assert.ok(saved.refresh_token)
  const later = new anaf.Client({ ...sandbox.clientOptions(), tokenFile })
  assert.match(await later.hello('file'), /^Hello/)
  assert.throws(() => new anaf.Client({ tokenFile, tokenLoad: () => null, tokenSave: () => {} }), {
    code: 'invalid_input',
  })
})
