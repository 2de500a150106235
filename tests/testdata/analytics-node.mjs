// Sends a track, an identify and a page through Segment's Node.js client,
// @segment/analytics-node, as a Node service does; run by the compatibility
// test (tests/compat_test.go) against the example pipeline.
//
// Environment: ORBITAL_API (the API's base URL), ORBITAL_WRITE_KEY,
// ORBITAL_MESSAGE_ID (the track's messageId; identify and page get -identify
// and -page). It prints one JSON line: {"library", "version", "sent",
// "failed"}, and exits 1 when the client reported any failure.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Analytics } from '@segment/analytics-node'

const require = createRequire(import.meta.url)
const pkg = JSON.parse(readFileSync(require.resolve('@segment/analytics-node/package.json'), 'utf8'))

const api = process.env.ORBITAL_API
const writeKey = process.env.ORBITAL_WRITE_KEY
const id = process.env.ORBITAL_MESSAGE_ID
if (!api || !writeKey || !id) {
  console.error('ORBITAL_API, ORBITAL_WRITE_KEY and ORBITAL_MESSAGE_ID are required')
  process.exit(2)
}

const analytics = new Analytics({ writeKey, host: api, flushInterval: 50, maxRetries: 3 })
const sent = []
const failed = []
analytics.on('error', (err) => failed.push(String(err && (err.reason || err.message || err.code) || err)))

const call = (what, messageId, fn) =>
  new Promise((resolve) => {
    fn((err) => {
      if (err) failed.push(`${what} ${messageId}: ${err.message || err}`)
      else sent.push(messageId)
      resolve()
    })
  })

const properties = { suite: 'analytics-node', traceId: id }
await Promise.all([
  call('track', id, (cb) => analytics.track({ userId: 'orbital-e2e', event: 'orbital analytics-node', messageId: id, properties }, cb)),
  call('identify', id + '-identify', (cb) => analytics.identify({ userId: 'orbital-e2e', messageId: id + '-identify', traits: { orbital: true } }, cb)),
  call('page', id + '-page', (cb) => analytics.page({ userId: 'orbital-e2e', name: 'orbital analytics-node', messageId: id + '-page', properties }, cb)),
])
await analytics.closeAndFlush({ timeout: 10000 })
console.log(JSON.stringify({ library: pkg.name, version: pkg.version, sent, failed }))
process.exit(failed.length > 0 ? 1 : 0)
