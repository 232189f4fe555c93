/**
 * `request.cf`, as workerd has it: a property of every `Request`, an object on the requests the
 * Worker receives and `undefined` on those it makes unless `init.cf` gives one; `new
 * Request(request)` and `clone()` keep it. There is no Cloudflare edge in front of wharf, so an
 * incoming request's `cf` holds what `wrangler dev` gives when it cannot fetch the edge's
 * (miniflare's fallback), with this request's own `clientAcceptEncoding` and `httpProtocol`.
 * The object is made on first read, so requests that never look pay nothing for it.
 */
import type { IncomingMessage } from 'node:http'
import { observeConstruction } from './global-class.js'

/** The request's own figures; the object is built from them when `cf` is first read. */
interface IncomingFacts {
  readonly acceptEncoding: string
  readonly httpVersion: string
}

const values = new WeakMap<Request, unknown>()
const incoming = new WeakMap<Request, IncomingFacts>()
let installed = false

/** miniflare's `fallbackCf` (what `wrangler dev` shows offline): a location, not the client's. */
function fallbackCf(facts: IncomingFacts): Record<string, unknown> {
  return {
    asOrganization: '',
    asn: 395747,
    colo: 'DFW',
    city: 'Austin',
    region: 'Texas',
    regionCode: 'TX',
    metroCode: '635',
    postalCode: '78701',
    country: 'US',
    continent: 'NA',
    timezone: 'America/Chicago',
    latitude: '30.27130',
    longitude: '-97.74260',
    clientTcpRtt: 0,
    httpProtocol: `HTTP/${facts.httpVersion}`,
    requestPriority: 'weight=192;exclusive=0',
    tlsCipher: 'AEAD-AES128-GCM-SHA256',
    tlsVersion: 'TLSv1.3',
    tlsClientAuth: {
      certPresented: '0',
      certVerified: 'NONE',
      certRevoked: '0',
      certIssuerDN: '',
      certSubjectDN: '',
      certIssuerDNRFC2253: '',
      certSubjectDNRFC2253: '',
      certIssuerDNLegacy: '',
      certSubjectDNLegacy: '',
      certSerial: '',
      certIssuerSerial: '',
      certSKI: '',
      certIssuerSKI: '',
      certFingerprintSHA1: '',
      certFingerprintSHA256: '',
      certNotBefore: '',
      certNotAfter: '',
      certRFC9440: '',
      certRFC9440TooLarge: false,
      certChainRFC9440: '',
      certChainRFC9440TooLarge: false,
    },
    edgeRequestKeepAliveStatus: 0,
    clientTrustScore: 99,
    botManagement: {
      corporateProxy: false,
      verifiedBot: false,
      ja3Hash: '25b4882c2bcb50cd6b469ff28c596742',
      staticResource: false,
      detectionIds: [],
      score: 99,
    },
    clientAcceptEncoding: facts.acceptEncoding,
  }
}

/** Each request holds its own copy, as workerd's (a copy's `cf` is equal, not the same). */
function copied(value: unknown): unknown {
  try {
    return structuredClone(value)
  } catch {
    return value
  }
}

function cfOf(request: Request): unknown {
  if (values.has(request)) return values.get(request)
  const facts = incoming.get(request)
  if (facts === undefined) return undefined
  const cf = fallbackCf(facts)
  values.set(request, cf)
  return cf
}

/** Marks a request the Worker receives from the listener: its `cf` is the incoming object. */
export function receivedWithCf(request: Request, req: IncomingMessage): void {
  const encoding = req.headers['accept-encoding']
  incoming.set(request, {
    acceptEncoding: Array.isArray(encoding) ? encoding.join(', ') : (encoding ?? ''),
    httpVersion: req.httpVersion,
  })
}

/**
 * Gives `Request` its `cf` accessor, `init.cf` and the copy in `new Request(request)` and
 * `clone()`; the global observes construction (`observeConstruction`). Idempotent.
 */
export function installRequestCf(): void {
  if (installed) return
  installed = true
  const Original = globalThis.Request
  Object.defineProperty(Original.prototype, 'cf', {
    get(this: Request): unknown {
      return cfOf(this)
    },
    enumerable: true,
    configurable: true,
  })
  const clone = Original.prototype.clone
  Object.defineProperty(Original.prototype, 'clone', {
    value: function (this: Request): Request {
      const copy = clone.call(this)
      if (values.has(this) || incoming.has(this)) values.set(copy, copied(cfOf(this)))
      return copy
    },
    writable: true,
    enumerable: true,
    configurable: true,
  })
  globalThis.Request = observeConstruction(Original, (request, [input, init]) => {
    const given = (init as { cf?: unknown } | undefined)?.cf
    if (given !== undefined && given !== null) values.set(request, copied(given))
    else if (input instanceof Original && (values.has(input) || incoming.has(input)))
      values.set(request, copied(cfOf(input)))
  })
}
