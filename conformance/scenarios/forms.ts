// Issue 14: every hostname form with every secureTransport mode (with the upgrade for
// 'starttls', including startTls() called at once), and writes of every BufferSource type and of
// values that are not buffers.
import type { Scenario } from '../src/types.js'

const hostForm: Scenario['run'] = async (k, p) => {
  const mode = p.mode as string
  const form = p.form as string
  const port = k.port()
  const address =
    form === 'localhost'
      ? `localhost:${port}`
      : form === 'ipv4'
        ? `127.0.0.1:${port}`
        : form === 'ipv6'
          ? `[::1]:${port}`
          : form === 'object-localhost'
            ? { hostname: 'localhost', port }
            : form === 'object-ipv4'
              ? { hostname: '127.0.0.1', port }
              : form === 'object-ipv6'
                ? { hostname: '[::1]', port }
                : { hostname: '::1', port }
  const s = k.sync('connect', () => k.connect(address, { secureTransport: mode }))
  if (!s) return
  if (mode === 'starttls' && p.immediate === true) {
    const t = k.sync('startTls', () => s.startTls())
    k.watch('old.closed', s.closed)
    k.watch('old.opened', s.opened)
    if (t) {
      k.watch('new.opened', t.opened)
      k.watch('new.closed', t.closed)
      await k.outcome(t.opened, 3000)
      await k.outcome(t.closed, 300)
    }
    await k.sleep(30)
    return
  }
  k.trace('opened', await k.outcome(s.opened, 3000))
  let socket = s
  if (mode === 'starttls') {
    const r = s.readable.getReader()
    k.trace('greeting', await k.outcome(r.read(), 2000))
    r.releaseLock()
    const w = s.writable.getWriter()
    await w.write('STARTTLS\r\n')
    const r2 = s.readable.getReader()
    k.trace('go', await k.outcome(r2.read(), 2000))
    r2.releaseLock()
    w.releaseLock()
    const t = k.sync('startTls', () => s.startTls())
    if (!t) return
    k.trace('new.opened', await k.outcome(t.opened, 3000))
    socket = t
  }
  const w = socket.writable.getWriter()
  k.trace('write', await k.outcome(w.write('ping'), 2000))
  const r = socket.readable.getReader()
  k.trace('echo', await k.outcome(r.read(), 2000))
  k.trace('close', await k.outcome(socket.close(), 2000))
}

const forms = [
  'localhost',
  'ipv4',
  'ipv6',
  'object-localhost',
  'object-ipv4',
  'object-ipv6',
  'object-ipv6-bare',
]

// `immediate`: the server speaks TLS from the first byte. A server that greets in plaintext would
// race its greeting against the client's handshake: workerd fails the handshake before or after the
// old `opened` settles depending on whether the greeting had already arrived (a flaky order).
const serverFor = (mode: string, form: string, immediate = false) => {
  const host = form.includes('ipv6') ? ('::1' as const) : ('127.0.0.1' as const)
  return mode === 'off'
    ? { main: { kind: 'echo' as const, host } }
    : mode === 'on'
      ? { main: { kind: 'tls' as const, cert: 'localhost' as const, host } }
      : { main: { kind: 'starttls' as const, cert: 'localhost' as const, host, immediate } }
}

const writeType: Scenario['run'] = async (k, p) => {
  const kind = p.kind as string
  const make = (): unknown => {
    const bytes = k.bytes('ABCDEFGH')
    switch (kind) {
      case 'Int8Array':
        return new Int8Array(bytes.buffer)
      case 'Uint8ClampedArray':
        return new Uint8ClampedArray(bytes.buffer)
      case 'Uint16Array':
        return new Uint16Array(bytes.buffer)
      case 'Int32Array':
        return new Int32Array(bytes.buffer)
      case 'Float32Array':
        return new Float32Array(bytes.buffer)
      case 'Float64Array':
        return new Float64Array(bytes.buffer)
      case 'BigUint64Array':
        return new BigUint64Array(bytes.buffer)
      case 'DataView':
        return new DataView(bytes.buffer)
      case 'DataView-offset':
        return new DataView(bytes.buffer, 2, 3)
      case 'subarray':
        return bytes.subarray(3, 6)
      case 'ArrayBuffer':
        return bytes.buffer
      case 'number':
        return 42
      case 'boolean':
        return true
      case 'null':
        return null
      case 'object':
        return { length: 2, 0: 65, 1: 66 }
      case 'array':
        return [65, 66]
      case 'Blob':
        return new Blob(['blob'])
      case 'String-object':
        return new String('str')
      case 'Int16Array':
        return new Int16Array(bytes.buffer)
      case 'Uint32Array':
        return new Uint32Array(bytes.buffer)
      case 'BigInt64Array':
        return new BigInt64Array(bytes.buffer)
      case 'empty-Uint8Array':
        return new Uint8Array(0)
      case 'empty-string':
        return ''
      case 'resizable-ArrayBuffer': {
        const ctor = ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer
        const buffer = new ctor(4, { maxByteLength: 16 })
        new Uint8Array(buffer).set(bytes.subarray(0, 4))
        return buffer
      }
      case 'detached-ArrayBuffer': {
        const buffer = bytes.buffer as ArrayBuffer
        structuredClone(buffer, { transfer: [buffer] })
        return new Uint8Array(buffer)
      }
      case 'symbol':
        return Symbol('s')
      case 'function':
        return () => 'f'
      default:
        return undefined
    }
  }
  const s = k.connect(k.addr())
  const w = s.writable.getWriter()
  k.trace('write', await k.outcome(w.write(make()), 1000))
  k.trace('then', await k.outcome(w.write('|end'), 1000))
  await s.close()
  k.trace('server', (await k.server(undefined, 'close')).head)
}

const writeKinds = [
  'Int8Array',
  'Uint8ClampedArray',
  'Uint16Array',
  'Int32Array',
  'Float32Array',
  'Float64Array',
  'BigUint64Array',
  'DataView',
  'DataView-offset',
  'subarray',
  'ArrayBuffer',
  'number',
  'boolean',
  'null',
  'object',
  'array',
  'Blob',
  'String-object',
  'Int16Array',
  'Uint32Array',
  'BigInt64Array',
  'empty-Uint8Array',
  'empty-string',
  'resizable-ArrayBuffer',
  'detached-ArrayBuffer',
  'symbol',
  'function',
]

export const formScenarios: Scenario[] = [
  ...['off', 'on', 'starttls'].flatMap((mode) =>
    forms.map((form): Scenario => ({
      id: `form-${mode}-${form}`,
      title: `${form} address with secureTransport '${mode}'`,
      servers: serverFor(mode, form),
      tls: mode !== 'off',
      params: { mode, form },
      run: hostForm,
    }))
  ),
  ...forms.map((form): Scenario => ({
    id: `form-starttls-immediate-${form}`,
    title: `${form} address, 'starttls', startTls() at once`,
    servers: serverFor('starttls', form, true),
    tls: true,
    params: { mode: 'starttls', form, immediate: true },
    run: hostForm,
  })),
  ...writeKinds.map((kind): Scenario => ({
    id: `write-type-${kind.toLowerCase()}`,
    title: `writer.write() of a ${kind}`,
    servers: { main: { kind: 'sink' } },
    params: { kind },
    run: writeType,
  })),
]
