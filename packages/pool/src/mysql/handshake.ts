/** The server side of the MySQL connection phase: greeting (v10) and the client's response. */
import { CAP, Cursor } from './packets.js'
import { ProtocolError } from '../errors.js'

/** What the pooler offers clients: no LOCAL_FILES (LOCAL INFILE is refused), no compression. */
export const SERVER_CAPS =
  CAP.LONG_PASSWORD |
  CAP.FOUND_ROWS |
  CAP.LONG_FLAG |
  CAP.CONNECT_WITH_DB |
  CAP.ODBC |
  CAP.IGNORE_SPACE |
  CAP.PROTOCOL_41 |
  CAP.INTERACTIVE |
  CAP.IGNORE_SIGPIPE |
  CAP.TRANSACTIONS |
  CAP.SECURE_CONNECTION |
  CAP.MULTI_STATEMENTS |
  CAP.MULTI_RESULTS |
  CAP.PS_MULTI_RESULTS |
  CAP.PLUGIN_AUTH |
  CAP.CONNECT_ATTRS |
  CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA

export function greeting(options: {
  serverVersion: string
  connectionId: number
  nonce: Buffer
  capabilities: number
  collation: number
  status: number
  plugin: string
}): Buffer {
  const o = options
  const fixed = Buffer.alloc(4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10)
  let at = 0
  fixed.writeUInt32LE(o.connectionId, at)
  at += 4
  o.nonce.copy(fixed, at, 0, 8)
  at += 8
  fixed[at++] = 0
  fixed.writeUInt16LE(o.capabilities & 0xffff, at)
  at += 2
  fixed[at++] = o.collation
  fixed.writeUInt16LE(o.status, at)
  at += 2
  fixed.writeUInt16LE((o.capabilities >>> 16) & 0xffff, at)
  at += 2
  fixed[at] = 21
  return Buffer.concat([
    Buffer.from([10]),
    Buffer.from(o.serverVersion.replace(/\0/g, '')),
    Buffer.from([0]),
    fixed,
    o.nonce.subarray(8, 20),
    Buffer.from([0]),
    Buffer.from(o.plugin),
    Buffer.from([0]),
  ])
}

export interface HandshakeResponse {
  readonly capabilities: number
  readonly collation: number
  /** Only the first 32 bytes: the client asks for TLS first. */
  readonly sslRequest: boolean
  readonly user: string
  readonly authResponse: Buffer
  readonly database: string | undefined
  readonly plugin: string | undefined
}

export function parseHandshakeResponse(payload: Buffer, serverCaps: number): HandshakeResponse {
  const c = new Cursor(payload)
  if (payload.length < 32) throw new ProtocolError('Bad handshake')
  const capabilities = c.u32() & serverCaps
  if ((capabilities & CAP.PROTOCOL_41) === 0) {
    throw new ProtocolError('Bad handshake: the pooler needs a client speaking protocol 4.1')
  }
  c.u32() // max packet size
  const collation = c.u8()
  c.bytes(23)
  if (c.left === 0 && (capabilities & CAP.SSL) !== 0) {
    return {
      capabilities,
      collation,
      sslRequest: true,
      user: '',
      authResponse: Buffer.alloc(0),
      database: undefined,
      plugin: undefined,
    }
  }
  const user = c.nul().toString('utf8')
  let authResponse: Buffer
  if (capabilities & CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = c.lenencBytes()
  else if (capabilities & CAP.SECURE_CONNECTION) authResponse = c.bytes(c.u8())
  else authResponse = c.nul(true)
  let database: string | undefined
  if (capabilities & CAP.CONNECT_WITH_DB && c.left > 0) {
    database = c.nul(true).toString('utf8')
    if (database === '') database = undefined
  }
  let plugin: string | undefined
  if (capabilities & CAP.PLUGIN_AUTH && c.left > 0) plugin = c.nul(true).toString('latin1')
  return {
    capabilities,
    collation,
    sslRequest: false,
    user,
    authResponse,
    database,
    plugin,
  }
}

/** utf8 (utf8mb3) and utf8mb4 collations that fit the handshake's one byte. */
export function isUtf8Collation(id: number): boolean {
  return (
    id === 33 ||
    id === 45 ||
    id === 46 ||
    id === 76 ||
    id === 83 ||
    (id >= 192 && id <= 247) ||
    id === 255
  )
}
