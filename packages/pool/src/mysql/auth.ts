/**
 * The two MySQL password methods Hyperdrive speaks, both directions: `mysql_native_password`
 * (SHA-1 scramble) and `caching_sha2_password` (SHA-256 scramble for the fast path; for the full
 * path the password itself, in clear over TLS or RSA-OAEP-encrypted with the server's key).
 */
import {
  constants,
  createHash,
  generateKeyPair,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto'

export type AuthPlugin = 'mysql_native_password' | 'caching_sha2_password'

const sha1 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha1')
  for (const p of parts) h.update(p)
  return h.digest()
}
const sha256 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i % b.length] ?? 0)
  return out
}

/** 20 bytes of scramble, no NUL (the handshake terminates it), as servers send. */
export function newNonce(): Buffer {
  const nonce = randomBytes(20)
  // Servers avoid NUL and '$' in the scramble: some clients treat it as a C string.
  for (let i = 0; i < nonce.length; i++) nonce[i] = ((nonce[i] ?? 0) % 94) + 33
  return nonce
}

/** The client's reply to `nonce` for `plugin`; an empty password sends an empty reply. */
export function scramble(plugin: AuthPlugin, password: string, nonce: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0)
  const pw = Buffer.from(password)
  if (plugin === 'mysql_native_password') {
    const stage1 = sha1(pw)
    return xor(stage1, sha1(nonce.subarray(0, 20), sha1(stage1)))
  }
  const stage1 = sha256(pw)
  return xor(stage1, sha256(sha256(stage1), nonce.subarray(0, 20)))
}

/** Checks a client's scramble in constant time. */
export function checkScramble(
  plugin: AuthPlugin,
  password: string,
  nonce: Buffer,
  reply: Buffer
): boolean {
  const expected = scramble(plugin, password, nonce)
  return expected.length === reply.length && timingSafeEqual(expected, reply)
}

/** caching_sha2_password's full path without TLS: the password XOR the nonce, RSA-OAEP. */
export function encryptPassword(password: string, nonce: Buffer, publicKeyPem: string): Buffer {
  const clear = xor(Buffer.concat([Buffer.from(password), Buffer.from([0])]), nonce.subarray(0, 20))
  return publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING }, clear)
}

/** The server's RSA key pair for caching_sha2_password's full path without TLS. */
export interface RsaKeys {
  readonly publicKey: string
  decryptPassword(encrypted: Buffer, nonce: Buffer): string | undefined
}

/** A fresh key pair, made on libuv's thread pool (2048-bit RSA takes 0.1–1 s of CPU). */
export async function rsaKeys(): Promise<RsaKeys> {
  const { publicKey, privateKey } = await new Promise<{ publicKey: string; privateKey: string }>(
    (resolve, reject) => {
      generateKeyPair(
        'rsa',
        {
          modulusLength: 2048,
          publicKeyEncoding: { type: 'spki', format: 'pem' },
          privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        },
        (error, pub, priv) =>
          error ? reject(error) : resolve({ publicKey: pub, privateKey: priv })
      )
    }
  )
  return {
    publicKey,
    decryptPassword(encrypted, nonce) {
      let clear: Buffer
      try {
        clear = privateDecrypt(
          { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING },
          encrypted
        )
      } catch {
        return undefined
      }
      const plain = xor(clear, nonce.subarray(0, 20))
      const end = plain.indexOf(0)
      return plain.subarray(0, end < 0 ? plain.length : end).toString()
    },
  }
}

/** Compares a cleartext password from a client with the configured one, in constant time. */
export function samePassword(given: string, expected: string): boolean {
  const a = sha256(Buffer.from(given))
  const b = sha256(Buffer.from(expected))
  return timingSafeEqual(a, b)
}
