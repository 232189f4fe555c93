/**
 * SCRAM-SHA-256 (RFC 5802/7677) both ways: as a client towards the origin, and as a server that
 * verifies the pooler's own clients. Nonces are random; proofs are compared in constant time.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'

const hmac = (key: Buffer, data: string | Buffer): Buffer =>
  createHmac('sha256', key).update(data).digest()
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest()
const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((v, i) => v ^ (b[i] ?? 0)))

function attributes(message: string): Map<string, string> {
  const map = new Map<string, string>()
  for (const part of message.split(',')) {
    const eq = part.indexOf('=')
    if (eq === 1) map.set(part.slice(0, 1), part.slice(2))
  }
  return map
}

/** RFC 4013 SASLprep is not applied: passwords are used as UTF-8, as libpq does for ASCII. */
export class ScramClient {
  private readonly nonce = randomBytes(18).toString('base64')
  private serverSignature: Buffer | undefined
  private clientFirstBare = ''

  constructor(private readonly password: string) {}

  first(): string {
    this.clientFirstBare = `n=*,r=${this.nonce}`
    return `n,,${this.clientFirstBare}`
  }

  /** Answers the server-first message; throws on a malformed or hostile one. */
  final(serverFirst: string): string {
    const a = attributes(serverFirst)
    const nonce = a.get('r') ?? ''
    const salt = Buffer.from(a.get('s') ?? '', 'base64')
    const iterations = Number(a.get('i'))
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) {
      throw new Error('SCRAM: the server nonce does not extend ours')
    }
    if (
      !Number.isInteger(iterations) ||
      iterations < 1 ||
      iterations > 10_000_000 ||
      salt.length === 0
    ) {
      throw new Error('SCRAM: bad salt or iteration count from the server')
    }
    const salted = pbkdf2Sync(this.password, salt, iterations, 32, 'sha256')
    const clientKey = hmac(salted, 'Client Key')
    const storedKey = sha256(clientKey)
    const withoutProof = `c=biws,r=${nonce}`
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`
    const proof = xor(clientKey, hmac(storedKey, authMessage))
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage)
    return `${withoutProof},p=${proof.toString('base64')}`
  }

  /** Checks the server's signature: a server that does not know the password is refused. */
  verify(serverFinal: string): void {
    const v = Buffer.from(attributes(serverFinal).get('v') ?? '', 'base64')
    if (!this.serverSignature || v.length !== 32 || !timingSafeEqual(v, this.serverSignature)) {
      throw new Error('SCRAM: the server signature does not match')
    }
  }
}

/** A stored verifier: what the server keeps instead of the password. */
export interface ScramVerifier {
  readonly salt: Buffer
  readonly iterations: number
  readonly storedKey: Buffer
  readonly serverKey: Buffer
}

export function makeVerifier(password: string, iterations = 4096): ScramVerifier {
  const salt = randomBytes(16)
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256')
  return {
    salt,
    iterations,
    storedKey: sha256(hmac(salted, 'Client Key')),
    serverKey: hmac(salted, 'Server Key'),
  }
}

/** The server side of one SCRAM exchange. */
export class ScramServer {
  private readonly nonce = randomBytes(18).toString('base64')
  private clientFirstBare = ''
  private serverFirstMessage = ''
  private fullNonce = ''

  constructor(private readonly verifier: ScramVerifier) {}

  /** Takes the client-first message, returns server-first. */
  first(clientFirst: string): string {
    if (!clientFirst.startsWith('n,,')) throw new Error('SCRAM: channel binding is not supported')
    this.clientFirstBare = clientFirst.slice(3)
    const clientNonce = attributes(this.clientFirstBare).get('r') ?? ''
    if (clientNonce.length < 8 || clientNonce.length > 256)
      throw new Error('SCRAM: bad client nonce')
    this.fullNonce = clientNonce + this.nonce
    this.serverFirstMessage = `r=${this.fullNonce},s=${this.verifier.salt.toString('base64')},i=${this.verifier.iterations}`
    return this.serverFirstMessage
  }

  /** Takes client-final, returns server-final if the proof is right; throws otherwise. */
  final(clientFinal: string): string {
    const a = attributes(clientFinal)
    if (a.get('r') !== this.fullNonce) throw new Error('SCRAM: nonce mismatch')
    const proof = Buffer.from(a.get('p') ?? '', 'base64')
    const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(',p='))
    const authMessage = `${this.clientFirstBare},${this.serverFirstMessage},${withoutProof}`
    const clientSignature = hmac(this.verifier.storedKey, authMessage)
    if (proof.length !== 32) throw new Error('SCRAM: bad proof')
    const clientKey = xor(proof, clientSignature)
    if (!timingSafeEqual(sha256(clientKey), this.verifier.storedKey)) {
      throw new Error('SCRAM: wrong password')
    }
    return `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}`
  }
}

/** md5 password for the origin: 'md5' + md5(md5(password + user) + salt). */
export function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5')
    .update(password + user)
    .digest('hex')
  return (
    'md5' +
    createHash('md5')
      .update(Buffer.concat([Buffer.from(inner), salt]))
      .digest('hex')
  )
}
