/**
 * `node --import @wharf/sockets/navigator app.mjs`: the register entry, plus
 * `navigator.userAgent === 'Cloudflare-Workers'`, the value workerd reports.
 *
 * Some drivers pick their Workers code path by looking at the user agent rather than by trying
 * `cloudflare:sockets`: `pg` decides once, when `pg/lib/stream.js` loads, and without this keeps
 * using `node:net`/`node:tls` (so `ssl` never reaches `cloudflare:sockets`). This entry is opt-in
 * because it changes a global that other libraries may read too. It runs before the application's
 * first module, which is the only time such a check can be influenced without editing the app.
 *
 * On Node >= 21, `navigator` exists (a lazy getter on `globalThis`): only its `userAgent` is
 * shadowed, so `hardwareConcurrency`, `language` and the rest stay Node's. Node 20 has no
 * `navigator`, so a minimal one is defined (enumerable, like Node's own on later versions).
 *
 * @module
 */
import './register.js'

/** `navigator.userAgent` in workerd (with the `global_navigator` flag, on since 2022-03-21). */
export const WORKERS_USER_AGENT = 'Cloudflare-Workers'

const existing = (globalThis as { navigator?: unknown }).navigator
if (typeof existing === 'object' && existing !== null) {
  Object.defineProperty(existing, 'userAgent', {
    value: WORKERS_USER_AGENT,
    configurable: true,
    enumerable: true,
    writable: false,
  })
} else {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: WORKERS_USER_AGENT },
    configurable: true,
    enumerable: true,
    writable: true,
  })
}
