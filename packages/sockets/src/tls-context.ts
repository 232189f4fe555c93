/**
 * TLS client settings. Certificates are always verified against the name the Worker connected to
 * (or `expectedServerHostname`), with SNI, like workerd. Extra CAs (a Node-only option) are added
 * to Node's bundled roots, never replacing them; contexts are cached because parsing ~140 root
 * certificates per connection would dominate the handshake cost.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import tls from 'node:tls'

const MAX_CACHED_CONTEXTS = 32
const contexts = new Map<string, tls.SecureContext>()

let extraCerts: string[] | undefined

/**
 * NODE_EXTRA_CA_CERTS: Node adds it to its default context only, and `tls.rootCertificates` does
 * not list it, so a context built with extra CAs would silently drop it. Read it the same way.
 */
function environmentCerts(): string[] {
  if (extraCerts === undefined) {
    extraCerts = []
    const file = process.env.NODE_EXTRA_CA_CERTS
    if (file) {
      try {
        const pem = readFileSync(file, 'utf8')
        if (pem.length <= 16 * 1024 * 1024) extraCerts.push(pem)
      } catch {
        // Node itself already warned at start-up that it could not read the file.
      }
    }
  }
  return extraCerts
}

function secureContextFor(ca: readonly string[]): tls.SecureContext | undefined {
  if (ca.length === 0) return undefined
  const key = ca.join('\n')
  let context = contexts.get(key)
  if (context === undefined) {
    context = tls.createSecureContext({
      ca: [...tls.rootCertificates, ...environmentCerts(), ...ca],
    })
    if (contexts.size >= MAX_CACHED_CONTEXTS) {
      const oldest = contexts.keys().next().value
      if (oldest !== undefined) contexts.delete(oldest)
    }
    contexts.set(key, context)
  }
  return context
}

export function collectCa(...sources: (string | readonly string[] | undefined)[]): string[] {
  const out: string[] = []
  for (const s of sources) {
    if (s === undefined) continue
    if (typeof s === 'string') out.push(s)
    else out.push(...s)
  }
  return out
}

/** Options for `tls.connect` that verify `name` (SNI only for DNS names: SNI can't carry an IP). */
export function tlsClientOptions(name: string, ca: readonly string[]): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = {
    rejectUnauthorized: true,
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
  }
  const secureContext = secureContextFor(ca)
  if (secureContext) options.secureContext = secureContext
  if (isIP(name) === 0 && name !== '') options.servername = name.replace(/\.$/, '')
  return options
}
