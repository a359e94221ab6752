'use strict'
// The state database: duplicate-safe submission and the quota ledger, from Node.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { anaf, SELLER, invoice, loggedIn } = require('./helpers.js')

test('submit sends an invoice once and settles a lost answer from ANAF\'s list', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anaf-state-'))
  t.after(() => {
    sandbox.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const stateDatabase = path.join(dir, 'state.db')
  const client = await loggedIn(sandbox, { stateDatabase })
  // ANAF stores the invoice, then the answer is lost.
  sandbox.injectFault('efactura.upload', { kind: 'accept_then_drop' }, 1)
  const xml = invoice('JS-SUBMIT-1')
  const lost = await client.submit(xml, SELLER)
  assert.equal(lost.state, 'unknown')
  assert.equal(lost.lastError.uploadOutcomeUnknown, true)
  assert.ok(lost.createdAt instanceof Date)
  // A second client on the same database file (another process, in real use) settles it.
  const other = await loggedIn(sandbox, { stateDatabase })
  const settled = other.resumeSubmissionsSync()
  assert.deepEqual(settled.map((r) => r.state), ['uploaded'])
  const copies = sandbox.uploads(SELLER).filter((u) => u.documentNumber === 'JS-SUBMIT-1')
  assert.equal(copies.length, 1, 'one copy at ANAF')
  assert.equal(settled[0].uploadId, copies[0].uploadId)
  assert.equal(settled[0].attempts, 1)
  const again = await client.submit(xml, SELLER)
  assert.equal(again.uploadId, settled[0].uploadId)
  assert.deepEqual((await client.submissions({ cif: SELLER, state: 'uploaded' })).map((r) => r.key), [lost.key])
  const usage = await client.quotaUsage()
  const paged = usage.find((u) => u.counter === 'list_paged')
  assert.ok(paged && paged.used >= 1 && paged.scope === 'cif' && paged.resetsAt instanceof Date)
  assert.match(paged.day, /^\d{4}-\d{2}-\d{2}$/)
})

test('the quota ledger refuses a call over its limit, and submit needs a database', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  t.after(() => sandbox.stop())
  const client = await loggedIn(sandbox, { stateDatabase: 'sqlite::memory:', dailyLimit: 1 })
  client.listMessagesSync(SELLER, 1)
  await assert.rejects(client.listMessages(SELLER, 1), (error) => {
    assert.ok(error instanceof anaf.AnafError)
    assert.equal(error.code, 'quota_exhausted')
    assert.equal(error.limit, 1)
    assert.ok(error.retryAfter > 0)
    return true
  })
  const plain = await loggedIn(sandbox)
  await assert.rejects(plain.submit(invoice('JS-SUBMIT-2'), SELLER), (error) => {
    assert.equal(error.code, 'invalid_input')
    assert.equal(error.field, 'state')
    return true
  })
  assert.throws(() => new anaf.Client({ stateDatabase: 'mysql://localhost/x' }), (error) => {
    assert.equal(error.code, 'invalid_input')
    assert.equal(error.field, 'database')
    return true
  })
})

test('tokens in the state database are one login for every program that opens it', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anaf-state-'))
  t.after(() => {
    sandbox.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const stateDatabase = path.join(dir, 'state.db')
  await loggedIn(sandbox, { stateDatabase, databaseTokens: 'company-42' })
  // A program started later (or on another machine, with postgres://) uses that login.
  const later = new anaf.Client({ ...sandbox.clientOptions(), stateDatabase, databaseTokens: 'company-42' })
  assert.match(await later.hello('later'), /^Hello, later/)
  const other = new anaf.Client({ ...sandbox.clientOptions(), stateDatabase, databaseTokens: 'company-43' })
  await assert.rejects(other.hello('other'), (error) => error.code === 'unauthorized')
  assert.throws(() => new anaf.Client({ ...sandbox.clientOptions(), databaseTokens: 'company-42' }),
    (error) => error.code === 'invalid_input')
})

test('sync archives each message once into a folder, with progress on the event loop', async (t) => {
  const sandbox = new anaf.Sandbox({ instant: true })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anaf-archive-'))
  t.after(() => {
    sandbox.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const client = await loggedIn(sandbox)
  sandbox.seedReceivedInvoices(SELLER, 5, 2)
  const seen = []
  const report = await client.sync(SELLER, dir, { filter: 'received', onProgress: (p) => seen.push(p) })
  assert.equal(report.progress.archived, 5)
  assert.equal(report.progress.alreadyArchived, 0)
  assert.deepEqual(report.failures, [])
  assert.ok(report.windowStart instanceof Date)
  assert.ok(seen.length >= 6, `progress calls: ${seen.length}`)
  assert.deepEqual(seen.at(-1), report.progress)
  const received = path.join(dir, SELLER, 'received')
  const folders = fs.readdirSync(received).flatMap((month) => fs.readdirSync(path.join(received, month)))
  assert.equal(folders.length, 5)
  const again = client.syncSync(SELLER, dir)
  assert.equal(again.progress.archived, 0)
  assert.equal(again.progress.alreadyArchived, 5)
  await assert.rejects(client.sync(SELLER, dir, { filter: 'all' }), (error) => error.code === 'invalid_input')
})
