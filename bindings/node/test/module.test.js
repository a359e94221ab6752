'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')

test('require and import both load the package, as the same objects', async () => {
  const cjs = require('anaf')
  const esm = await import('anaf')
  assert.equal(esm.Client, cjs.Client)
  assert.equal(esm.default.Sandbox, cjs.Sandbox)
  assert.equal(typeof esm.validateCif, 'function')
  assert.equal(cjs.version, require(path.join(root, 'package.json')).version)
})

test('an ES module program can name the exports', () => {
  const program = "import { Client, Sandbox, AnafError, validateCif } from 'anaf'; " +
    "console.log(typeof Client, typeof Sandbox, typeof AnafError, validateCif('RO8000000000'))"
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', program], { cwd: root }).toString()
  assert.equal(out.trim(), 'function function function 8000000000')
})
