/**
 * Client start-up and authentication: SSLRequest/GSSENCRequest, CancelRequest, the protocol
 * version and database check, then trust, cleartext password or SCRAM-SHA-256. It speaks only
 * through its `StartupHost` (the session), so it holds no socket of its own.
 */
import { timingSafeEqual } from 'node:crypto'
import { SQLSTATE } from '../errors.js'
import * as m from './protocol.js'
import { ScramServer, type ScramVerifier } from './scram.js'
import {
  BodyReader,
  CANCEL_REQUEST_CODE,
  GSS_REQUEST_CODE,
  MessageWriter,
  SSL_REQUEST_CODE,
  type Frame,
} from './wire.js'

export type ClientAuth =
  | { readonly method: 'trust' }
  | { readonly method: 'scram-sha-256'; readonly user: string; readonly verifier: ScramVerifier }
  | { readonly method: 'password'; readonly user: string; readonly password: string }

export interface StartupHost {
  write(data: Buffer): void
  /** 'S' was sent: wrap the connection in TLS (bytes already received go to TLS too). */
  upgradeToTls(): void
  /** Whether TLS is configured and not already on. */
  canTls(): boolean
  fatal(code: string, message: string): void
  cancel(pid: number, secret: number): void
  /** Authentication succeeded. */
  authenticated(): void
}

const SCRAM_MECHANISM = Buffer.from('SCRAM-SHA-256\0')
const MAX_STARTUP_PARAMETERS = 64

export class ClientStartup {
  private scram: ScramServer | undefined
  /** Set once the startup packet was accepted: authentication messages follow. */
  authenticating = false
  user = ''

  constructor(
    private readonly auth: ClientAuth,
    private readonly database: string,
    private readonly host: StartupHost
  ) {}

  private authFailed(): void {
    this.host.fatal(
      SQLSTATE.invalidPassword,
      `password authentication failed for user "${this.user}"`
    )
  }

  /** One untagged start-up packet (length included). */
  onPacket(packet: Buffer): void {
    const r = new BodyReader(packet.subarray(4))
    const code = r.int32()
    if (code === SSL_REQUEST_CODE) {
      if (this.host.canTls()) {
        this.host.write(Buffer.from('S'))
        this.host.upgradeToTls()
      } else this.host.write(Buffer.from('N'))
      return
    }
    if (code === GSS_REQUEST_CODE) {
      this.host.write(Buffer.from('N'))
      return
    }
    if (code === CANCEL_REQUEST_CODE) {
      this.host.cancel(r.int32(), r.int32())
      return
    }
    if (code >> 16 !== 3) {
      this.host.fatal(
        SQLSTATE.protocolViolation,
        `unsupported frontend protocol ${code >> 16}.${code & 0xffff}: server supports 3.0`
      )
      return
    }
    const params = new Map<string, string>()
    const unknownOptions: string[] = []
    for (let i = 0; i < MAX_STARTUP_PARAMETERS && r.remaining > 1; i++) {
      const key = r.cstring()
      if (key === '') break
      const value = r.cstring()
      if (key.startsWith('_pq_.')) unknownOptions.push(key)
      else params.set(key, value)
    }
    this.user = params.get('user') ?? ''
    const database = params.get('database') ?? this.user
    if (database !== this.database) {
      this.host.fatal(
        SQLSTATE.invalidCatalogName,
        `database "${database}" does not exist (this pooler serves "${this.database}")`
      )
      return
    }
    if ((code & 0xffff) !== 0 || unknownOptions.length > 0) {
      // Newer minor versions and protocol options: say what we speak (3.0) instead of failing.
      const w = new MessageWriter().int32(3 << 16).int32(unknownOptions.length)
      for (const o of unknownOptions) w.cstring(o)
      this.host.write(w.build('v'))
    }
    this.authenticating = true
    const auth = this.auth
    if (auth.method === 'trust') this.host.authenticated()
    else if (this.user !== auth.user) this.authFailed()
    else if (auth.method === 'password') this.host.write(m.AUTH_CLEARTEXT)
    else {
      this.scram = new ScramServer(auth.verifier)
      this.host.write(m.AUTH_SASL_SCRAM)
    }
  }

  /** A message while authenticating: only PasswordMessage / SASL responses ('p'). */
  onFrame(frame: Frame): void {
    if (frame.type !== 'p') {
      this.host.fatal(
        SQLSTATE.protocolViolation,
        `expected a password message, got '${frame.type}'`
      )
      return
    }
    const auth = this.auth
    const r = new BodyReader(frame.body)
    if (auth.method === 'password') {
      const given = Buffer.from(r.cstring())
      const expected = Buffer.from(auth.password)
      if (given.length === expected.length && timingSafeEqual(given, expected))
        this.host.authenticated()
      else this.authFailed()
      return
    }
    const scram = this.scram
    if (!scram) return
    try {
      if (r.remaining > 0 && frame.body.includes(SCRAM_MECHANISM)) {
        r.cstring()
        const length = r.int32()
        const first = r.bytes(length).toString()
        this.host.write(m.authSaslContinue(scram.first(first)))
      } else {
        const final = scram.final(r.rest().toString())
        this.host.write(m.authSaslFinal(final))
        this.host.authenticated()
      }
    } catch {
      this.authFailed()
    }
  }
}
