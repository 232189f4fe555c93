/**
 * Workers Static Assets in `wharf dev`: the files of `assets.directory`, served before the Worker
 * (or after it, with `run_worker_first`), with wrangler's `html_handling` and
 * `not_found_handling`, content types, a strong ETag and 304s, and `env.<binding>.fetch()`.
 * It reads the directory on each request (bounded), so edits show without a reload.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, normalize, sep } from 'node:path'
import type { AssetsConfig } from '../config.js'
import { contentType } from './content-types.js'
import { parseIgnore, type Ignore } from './ignore.js'

/** Cloudflare's per-file limit. */
export const MAX_ASSET_BYTES = 25 * 1024 * 1024

export interface AssetsOptions extends AssetsConfig {
  /** Whether a Worker handles what assets do not (always, in `wharf dev`). */
  readonly hasWorker: boolean
  /** `Sec-Fetch-Mode: navigate` requests prefer index.html under SPA (compat 2025-04-01+). */
  readonly navigationPrefersAssets: boolean
}

type Found = { kind: 'file'; path: string; status: number } | { kind: 'redirect'; to: string }

export class AssetServer {
  private readonly ignore: Ignore
  private readonly etags = new Map<string, { stamp: string; etag: string }>()

  private patterns: { exclude: RegExp[]; include: RegExp[] } | undefined

  constructor(private readonly options: AssetsOptions) {
    const ignoreFile = join(options.directory, '.assetsignore')
    this.ignore = existsSync(ignoreFile)
      ? parseIgnore(readFileSync(ignoreFile, 'utf8'))
      : parseIgnore('')
  }

  /**
   * Static routing (`run_worker_first` as a list), as Cloudflare's router decides it: a path an
   * exclusion (`!/…`) matches goes to the assets alone (a miss is their 404 or SPA page, never
   * the Worker); else one an inclusion matches goes to the Worker; else the default order.
   */
  private staticRoute(pathname: string): 'assets' | 'worker' | undefined {
    const rwf = this.options.runWorkerFirst
    if (typeof rwf === 'boolean') return rwf ? 'worker' : undefined
    this.patterns ??= {
      exclude: rwf.filter((p) => p.startsWith('!')).map((p) => pathPattern(p.slice(1))),
      include: rwf.filter((p) => !p.startsWith('!')).map(pathPattern),
    }
    if (this.patterns.exclude.some((re) => re.test(pathname))) return 'assets'
    if (this.patterns.include.some((re) => re.test(pathname))) return 'worker'
    return undefined
  }

  /**
   * Routing in front of the Worker: the asset response, or undefined to run the Worker. Requests
   * that match no asset go to the Worker, except navigations under SPA handling.
   */
  route(request: Request): Response | undefined {
    const url = new URL(request.url)
    const routed = this.staticRoute(url.pathname)
    if (routed === 'worker') return undefined
    if (routed === 'assets') return this.fetch(request)
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined
    const found = this.find(url.pathname, false)
    if (found !== undefined) return this.respond(request, url, found)
    if (this.options.notFoundHandling === 'single-page-application') {
      const navigate = request.headers.get('sec-fetch-mode') === 'navigate'
      if (!this.options.hasWorker || !this.options.navigationPrefersAssets || navigate) {
        const spa = this.notFound(url.pathname)
        if (spa) return this.respond(request, url, spa)
      }
    }
    if (!this.options.hasWorker) return this.fetch(request)
    return undefined
  }

  /** `env.ASSETS.fetch()`: assets only, with not_found_handling; 404 when nothing matches. */
  fetch(request: Request): Response {
    const url = new URL(request.url)
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response('Method Not Allowed', { status: 405, headers: { allow: 'GET, HEAD' } })
    }
    const found = this.find(url.pathname, false) ?? this.notFound(url.pathname)
    if (found === undefined) return new Response(null, { status: 404 })
    return this.respond(request, url, found)
  }

  /** A file under the directory for a relative path, or undefined (never outside it). */
  private file(relative: string): string | undefined {
    if (relative.includes('\0') || relative.length > 4096) return undefined
    const rel = normalize(relative).replace(/^([/\\])+/, '')
    if (rel.startsWith('..') || this.ignore(rel.split(sep).join('/'))) return undefined
    const path = join(this.options.directory, rel)
    if (!path.startsWith(this.options.directory + sep) && path !== this.options.directory)
      return undefined
    try {
      return statSync(path).isFile() ? path : undefined
    } catch {
      return undefined
    }
  }

  /** wrangler's html_handling over one pathname. */
  private find(pathname: string, _forNotFound: boolean): Found | undefined {
    let decoded: string
    try {
      decoded = decodeURIComponent(pathname)
    } catch {
      return undefined
    }
    const mode = this.options.htmlHandling
    const exact = this.file(decoded)
    const ok = (path: string): Found => ({ kind: 'file', path, status: 200 })
    const redirect = (to: string): Found => ({ kind: 'redirect', to })
    if (mode === 'none') return exact && !decoded.endsWith('/') ? ok(exact) : undefined
    // /x.html and /x/index.html are canonicalised to their pretty form.
    if (decoded.endsWith('/index.html') && exact) {
      const dir = decoded.slice(0, -'index.html'.length)
      return redirect(mode === 'drop-trailing-slash' && dir !== '/' ? dir.slice(0, -1) : dir)
    }
    if (decoded.endsWith('.html') && exact) {
      const bare = decoded.slice(0, -'.html'.length)
      return redirect(mode === 'force-trailing-slash' ? `${bare}/` : bare)
    }
    if (exact && !decoded.endsWith('/')) return ok(exact)
    if (decoded.endsWith('/')) {
      const base = decoded.slice(0, -1)
      const index = this.file(`${decoded}index.html`)
      if (index) {
        if (mode === 'drop-trailing-slash' && base !== '') return redirect(base)
        return ok(index)
      }
      const html = base === '' ? undefined : this.file(`${base}.html`)
      if (html) return mode === 'force-trailing-slash' ? ok(html) : redirect(base)
      return undefined
    }
    const html = this.file(`${decoded}.html`)
    if (html) return mode === 'force-trailing-slash' ? redirect(`${decoded}/`) : ok(html)
    const index = this.file(`${decoded}/index.html`)
    if (index) return mode === 'drop-trailing-slash' ? ok(index) : redirect(`${decoded}/`)
    return undefined
  }

  private notFound(pathname: string): Found | undefined {
    const mode = this.options.notFoundHandling
    if (mode === 'single-page-application') {
      const index = this.file('index.html')
      return index ? { kind: 'file', path: index, status: 200 } : undefined
    }
    if (mode === '404-page') {
      // The nearest 404.html walking up from the requested directory.
      const parts = pathname.split('/').slice(1, -1).slice(0, 64)
      for (let n = parts.length; n >= 0; n--) {
        const page = this.file(`${parts.slice(0, n).join('/')}/404.html`)
        if (page) return { kind: 'file', path: page, status: 404 }
      }
    }
    return undefined
  }

  private etag(path: string, body: Buffer, stamp: string): string {
    const cached = this.etags.get(path)
    if (cached?.stamp === stamp) return cached.etag
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`
    if (this.etags.size > 20_000) this.etags.clear()
    this.etags.set(path, { stamp, etag })
    return etag
  }

  private respond(request: Request, url: URL, found: Found): Response {
    if (found.kind === 'redirect') {
      return new Response(null, { status: 307, headers: { location: `${found.to}${url.search}` } })
    }
    let body: Buffer
    let stamp: string
    try {
      const stat = statSync(found.path)
      if (stat.size > MAX_ASSET_BYTES) {
        return new Response(`asset larger than 25 MiB: ${url.pathname}`, { status: 500 })
      }
      stamp = `${stat.size}:${stat.mtimeMs}`
      body = readFileSync(found.path)
    } catch {
      return new Response(null, { status: 404 })
    }
    const etag = this.etag(found.path, body, stamp)
    const headers = new Headers({
      'content-type': contentType(found.path),
      etag,
      'cache-control': 'public, max-age=0, must-revalidate',
    })
    const inm = request.headers.get('if-none-match')
    if (
      found.status === 200 &&
      inm !== null &&
      inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)
    ) {
      return new Response(null, { status: 304, headers })
    }
    headers.set('content-length', String(body.length))
    return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), {
      status: found.status,
      headers,
    })
  }
}

/** A `run_worker_first` path pattern (`*` is any run of characters) as a whole-path RegExp. */
function pathPattern(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\?]/g, '\\$&').replace(/\*/g, '.*')}$`)
}
