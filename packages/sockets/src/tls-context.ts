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
    checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert),
  }
  const secureContext = secureContextFor(ca)
  if (secureContext) options.secureContext = secureContext
  if (isIP(name) === 0 && name !== '') options.servername = name.replace(/\.$/, '')
  return options
}

/**
 * Node's check, and for an IPv6 literal also the certificate's IPv6 addresses compared in one
 * form: Node 22 with OpenSSL 3.5 writes `::1` in a certificate as `0:0:0:0:0:0:0:1` and compares
 * the text, so it refuses a certificate that names the address (workerd and Node 20/24 accept it).
 */
function checkServerIdentity(name: string, cert: tls.PeerCertificate): Error | undefined {
  const error = tls.checkServerIdentity(name, cert)
  if (error === undefined || isIP(name) !== 6) return error
  const wanted = canonicalIpv6(name)
  if (wanted === undefined) return error
  const named = (cert.subjectaltname ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('IP Address:'))
    .map((entry) => entry.slice('IP Address:'.length))
  return named.some((ip) => isIP(ip) === 6 && canonicalIpv6(ip) === wanted) ? undefined : error
}

/** The WHATWG URL serializer's form of an IPv6 address (compressed, lower case), if it has one. */
function canonicalIpv6(ip: string): string | undefined {
  // A zone (`fe80::1%eth0`) is no URL host: such a name keeps Node's answer.
  return URL.canParse(`http://[${ip}]/`) ? new URL(`http://[${ip}]/`).hostname : undefined
}
