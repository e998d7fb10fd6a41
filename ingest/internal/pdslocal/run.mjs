// The trendstream test PDS: the reference @atproto/pds plus an in-process
// did:plc directory (@did-plc/server, in-memory DB, persisted as an
// append-only op log), both bound to 127.0.0.1. Written next to the
// installed node_modules by the Go harness (pdslocal) and run with Node 22.
//
// env: PDS_PORT, PLC_PORT, PDS_DATA_DIRECTORY (required); any other PDS_*
// variable is passed to @atproto/pds.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import http from 'node:http'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const plcServer = require('@did-plc/server')
const { PDS, envToCfg, envToSecrets, readEnv } = await import('@atproto/pds')

const port = Number(process.env.PDS_PORT)
const plcPort = Number(process.env.PLC_PORT)
const dataDir = process.env.PDS_DATA_DIRECTORY
if (!port || !plcPort || !dataDir) throw new Error('PDS_PORT, PLC_PORT and PDS_DATA_DIRECTORY are required')
fs.mkdirSync(path.join(dataDir, 'blobs'), { recursive: true })

// Both servers listen on a bare port (all interfaces): pin them to loopback.
const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) args.splice(1, 0, '127.0.0.1')
  return listen.apply(this, args)
}

const secretsFile = path.join(dataDir, 'secrets.json')
let secrets
if (fs.existsSync(secretsFile)) {
  secrets = JSON.parse(fs.readFileSync(secretsFile, 'utf8'))
} else {
  const hex = (n) => crypto.randomBytes(n).toString('hex')
  secrets = { jwt: hex(32), admin: hex(16), dpop: hex(32), plcRotation: hex(32) }
  fs.writeFileSync(secretsFile, JSON.stringify(secrets), { mode: 0o600 })
}

// PLC directory; replaying the op log keeps DIDs resolvable after a restart.
const opLog = path.join(dataDir, 'plc-ops.jsonl')
const db = plcServer.Database.mock()
if (fs.existsSync(opLog)) {
  for (const line of fs.readFileSync(opLog, 'utf8').split('\n')) {
    if (line.trim()) {
      const { did, op } = JSON.parse(line)
      await db.validateAndAddOp(did, op)
    }
  }
}
const addOp = db.validateAndAddOp.bind(db)
db.validateAndAddOp = async (did, op) => {
  await addOp(did, op)
  fs.appendFileSync(opLog, JSON.stringify({ did, op }) + '\n')
}
const plc = plcServer.PlcServer.create({ db, port: plcPort })
await plc.start()

const setDefault = (k, v) => { if (!process.env[k]) process.env[k] = v }
setDefault('PDS_HOSTNAME', 'localhost')
setDefault('PDS_BLOBSTORE_DISK_LOCATION', path.join(dataDir, 'blobs'))
setDefault('PDS_JWT_SECRET', secrets.jwt)
setDefault('PDS_ADMIN_PASSWORD', secrets.admin)
setDefault('PDS_DPOP_SECRET', secrets.dpop)
setDefault('PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX', secrets.plcRotation)
// "localhost", not 127.0.0.1: the PDS identity resolver refuses IP hosts.
process.env.PDS_DID_PLC_URL = `http://localhost:${plcPort}`
setDefault('PDS_INVITE_REQUIRED', 'false')
setDefault('PDS_DEV_MODE', 'true') // also lifts SSRF protection for the loopback PLC
setDefault('PDS_CRAWLERS', '') // never announce to a relay

const env = readEnv()
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
await pds.start()
console.log(JSON.stringify({ event: 'started', port, plcPort, pid: process.pid }))

let stopping = false
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, async () => {
    if (stopping) return
    stopping = true
    setTimeout(() => process.exit(1), 10_000).unref()
    try { await pds.destroy() } catch (e) { console.error(e) }
    try { await plc.destroy() } catch (e) { console.error(e) }
    process.exit(0)
  })
}
