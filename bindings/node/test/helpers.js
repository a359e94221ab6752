'use strict'
const anaf = require('..')

const SELLER = '8000000000'
const BUYER = '12345674'

function invoice(number) {
  return anaf.Sandbox.sampleInvoice(number, SELLER, BUYER)
}

/** A client logged in to `sandbox` (retries off: the tests provoke failures on purpose). */
async function loggedIn(sandbox, options = {}) {
  const client = new anaf.Client({ ...sandbox.clientOptions(), maxRetries: 0, ...options })
  await client.exchangeCode(sandbox.authorize())
  return client
}

module.exports = { anaf, SELLER, BUYER, invoice, loggedIn }
