/** Builders and parsers for the few messages the pooler itself writes or must understand. */
import { BodyReader, MessageWriter, PROTOCOL_3_0, SSL_REQUEST_CODE } from './wire.js'

// ---- backend messages (pooler -> client) --------------------------------------------------

export const authOk = (): Buffer => new MessageWriter().int32(0).build('R')
export const authCleartext = (): Buffer => new MessageWriter().int32(3).build('R')
export const authSasl = (mechanisms: readonly string[]): Buffer => {
  const w = new MessageWriter().int32(10)
  for (const m of mechanisms) w.cstring(m)
  return w.byte(0).build('R')
}
export const authSaslContinue = (data: string): Buffer =>
  new MessageWriter().int32(11).bytes(Buffer.from(data)).build('R')
export const authSaslFinal = (data: string): Buffer =>
  new MessageWriter().int32(12).bytes(Buffer.from(data)).build('R')
export const parameterStatus = (name: string, value: string): Buffer =>
  new MessageWriter().cstring(name).cstring(value).build('S')
export const backendKeyData = (pid: number, key: number): Buffer =>
  new MessageWriter().int32(pid).int32(key).build('K')
export const readyForQuery = (status: 'I' | 'T' | 'E'): Buffer =>
  new MessageWriter().byte(status.charCodeAt(0)).build('Z')

/** An ErrorResponse with severity, SQLSTATE and message (and optional detail/hint). */
export function errorResponse(
  code: string,
  message: string,
  extra: { severity?: 'ERROR' | 'FATAL'; detail?: string; hint?: string } = {}
): Buffer {
  const severity = extra.severity ?? 'ERROR'
  const w = new MessageWriter()
    .byte(0x53)
    .cstring(severity)
    .byte(0x56)
    .cstring(severity)
    .byte(0x43)
    .cstring(code)
    .byte(0x4d)
    .cstring(message)
  if (extra.detail !== undefined) w.byte(0x44).cstring(extra.detail)
  if (extra.hint !== undefined) w.byte(0x48).cstring(extra.hint)
  return w.byte(0).build('E')
}

/** The fields of an ErrorResponse/NoticeResponse body, keyed by field code ('C', 'M', ...). */
export function parseErrorFields(body: Buffer): Record<string, string> {
  const r = new BodyReader(body)
  const fields: Record<string, string> = {}
  for (let i = 0; i < 64 && r.remaining > 1; i++) {
    const code = r.byte()
    if (code === 0) break
    fields[String.fromCharCode(code)] = r.cstring()
  }
  return fields
}

// ---- frontend messages (pooler -> origin) -------------------------------------------------

export function startupMessage(params: Record<string, string>): Buffer {
  const w = new MessageWriter().int32(PROTOCOL_3_0)
  for (const [k, v] of Object.entries(params)) w.cstring(k).cstring(v)
  return w.byte(0).buildUntagged()
}
export const sslRequest = (): Buffer => new MessageWriter().int32(SSL_REQUEST_CODE).buildUntagged()
export const passwordMessage = (password: string): Buffer =>
  new MessageWriter().cstring(password).build('p')
export const saslInitial = (mechanism: string, data: string): Buffer =>
  new MessageWriter()
    .cstring(mechanism)
    .int32(Buffer.byteLength(data))
    .bytes(Buffer.from(data))
    .build('p')
export const saslResponse = (data: string): Buffer =>
  new MessageWriter().bytes(Buffer.from(data)).build('p')
export const query = (sql: string): Buffer => new MessageWriter().cstring(sql).build('Q')
export const terminate = (): Buffer => new MessageWriter().build('X')

/** Parse with a statement name, query text and parameter type OIDs. */
export function parse(name: string, text: string, paramTypes: readonly number[]): Buffer {
  const w = new MessageWriter().cstring(name).cstring(text).uint16(paramTypes.length)
  for (const t of paramTypes) w.int32(t)
  return w.build('P')
}

export function cancelRequest(pid: number, key: number): Buffer {
  return new MessageWriter().int32(80877102).int32(pid).int32(key).buildUntagged()
}

// ---- fixed messages, built once ----------------------------------------------------------

export const SYNC = new MessageWriter().build('S')
export const PARSE_COMPLETE = new MessageWriter().build('1')
export const BIND_COMPLETE = new MessageWriter().build('2')
/** Describe / Execute of the unnamed portal (all rows): a cached request's replay. */
export const DESCRIBE_UNNAMED_PORTAL = new MessageWriter().byte(0x50).cstring('').build('D')
export const EXECUTE_UNNAMED_PORTAL = new MessageWriter().cstring('').int32(0).build('E')
export const READY: Readonly<Record<'I' | 'T' | 'E', Buffer>> = {
  I: readyForQuery('I'),
  T: readyForQuery('T'),
  E: readyForQuery('E'),
}
export const AUTH_OK = authOk()
export const AUTH_CLEARTEXT = authCleartext()
export const AUTH_SASL_SCRAM = authSasl(['SCRAM-SHA-256'])
