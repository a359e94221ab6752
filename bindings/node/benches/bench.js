'use strict'
// The Node benchmark (run by ../run-bench): an awaited `client.status` against the same
// sandbox setup as the Rust baseline (crates/anaf-ffi/benches/status_baseline.rs), and 100
// concurrent calls with the event loop's lag measured meanwhile.
//   node benches/bench.js status [rounds]      -> "Node awaited status median X us"
//   node benches/bench.js sync [rounds]        -> "Node statusSync median X us"
//   node benches/bench.js concurrent [batches] -> 100 concurrent calls, event-loop lag
//   node benches/bench.js paired [rounds]      -> the same three in one process, interleaved
//                                                  in blocks of 100 (needs the `bench` build)
const { monitorEventLoopDelay } = require('node:perf_hooks')
const { Client, Sandbox } = require('..')

const WARMUP = 300

async function setup() {
  const sandbox = new Sandbox({ instant: true, perMinuteLimit: 1000000, dailyLimits: { efacturaStatus: 100000000 } })
  const client = new Client({ ...sandbox.clientOptions(), limitRequests: false })
  await client.exchangeCode(sandbox.authorize())
  const receipt = await client.upload(Sandbox.sampleInvoice('B-1', '8000000000', '12345674'), '8000000000')
  return { sandbox, client, uploadId: receipt.uploadId }
}

function median(times) {
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}

async function status(rounds) {
  const { sandbox, client, uploadId } = await setup()
  const times = []
  for (let i = 0; i < WARMUP + rounds; i++) {
    const started = process.hrtime.bigint()
    await client.status(uploadId)
    if (i >= WARMUP) times.push(Number(process.hrtime.bigint() - started) / 1000)
  }
  sandbox.stop()
  console.log(`Node awaited status median ${median(times).toFixed(1)} us`)
}

async function sync(rounds) {
  const { sandbox, client, uploadId } = await setup()
  const times = []
  for (let i = 0; i < WARMUP + rounds; i++) {
    const started = process.hrtime.bigint()
    client.statusSync(uploadId)
    if (i >= WARMUP) times.push(Number(process.hrtime.bigint() - started) / 1000)
  }
  sandbox.stop()
  console.log(`Node statusSync median ${median(times).toFixed(1)} us`)
}

// Rust (the core's blocking client, called from here), awaited and sync calls in turn, 100 at
// a time, against one sandbox and one connection pool: the machine's drifts hit all three
// alike, which separate processes cannot promise on a busy two-core machine.
async function paired(rounds) {
  const native = require('../native.js')
  if (typeof native.benchRustStatus !== 'function') throw new Error('build the addon with --features bench (run-bench does)')
  const { sandbox, client, uploadId } = await setup()
  const rust = []
  const awaited = []
  const sync = []
  const block = 100
  for (let i = 0; i < WARMUP + rounds; i += block) {
    const keep = i >= WARMUP
    const rustTimes = native.benchRustStatus(client._native, uploadId, block)
    if (keep) rust.push(...rustTimes)
    for (let j = 0; j < block; j++) {
      const started = process.hrtime.bigint()
      await client.status(uploadId)
      if (keep) awaited.push(Number(process.hrtime.bigint() - started) / 1000)
    }
    for (let j = 0; j < block; j++) {
      const started = process.hrtime.bigint()
      client.statusSync(uploadId)
      if (keep) sync.push(Number(process.hrtime.bigint() - started) / 1000)
    }
  }
  sandbox.stop()
  const r = median(rust)
  const a = median(awaited)
  const s = median(sync)
  console.log(
    `paired, ${rust.length} calls each: Rust ${r.toFixed(1)} us, Node awaited ${a.toFixed(1)} us = ${(a / r).toFixed(3)}x, ` +
      `Node sync ${s.toFixed(1)} us = ${(s / r).toFixed(3)}x`,
  )
}

async function concurrent(batches) {
  const { sandbox, client, uploadId } = await setup()
  const lag = monitorEventLoopDelay({ resolution: 1 })
  const batchTimes = []
  // A 1 ms timer: how often it fires shows whether the loop stayed free.
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  lag.enable()
  const started = Date.now()
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint()
    const states = await Promise.all(Array.from({ length: 100 }, () => client.status(uploadId)))
    if (states.length !== 100) throw new Error('lost calls')
    batchTimes.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  lag.disable()
  clearInterval(timer)
  const elapsed = Date.now() - started
  sandbox.stop()
  console.log(
    `100 concurrent status calls: median ${median(batchTimes).toFixed(2)} ms per batch of 100 (${batches} batches); ` +
      `event-loop delay p50 ${(lag.percentile(50) / 1e6).toFixed(2)} ms, p99 ${(lag.percentile(99) / 1e6).toFixed(2)} ms, ` +
      `max ${(lag.max / 1e6).toFixed(2)} ms; a 1 ms timer fired ${ticks} times in ${elapsed} ms`,
  )
}

const [mode = 'status', count] = process.argv.slice(2)
const modes = { status, sync, concurrent, paired }
if (!modes[mode]) {
  console.error(`unknown mode ${mode}: status, sync, concurrent or paired`)
  process.exit(2)
}
modes[mode](Number(count) || (mode === 'concurrent' ? 50 : 3000)).catch((error) => {
  console.error(error)
  process.exit(1)
})
