/**
 * `wharf.tcp`: TCP listeners whose connections go to a Worker's connect() handler, each accepted
 * connection a request of its own (Cloudflare lists inbound TCP as "coming soon"; this is ours).
 * The listener is the supervisor's; the connection is passed, unread, to the runtime.
 */
import net, { type AddressInfo } from 'node:net'
import type { Limits } from '../config.js'
import { listenError } from '../errors.js'
import type { ServiceHub } from './hub.js'
import type { TcpListenerConfig } from './config.js'
import { authority } from './routes.js'

export interface TcpListener {
  readonly address: string
  readonly port: number
  close(): Promise<void>
}

export async function startTcpListener(
  name: string,
  listener: TcpListenerConfig,
  defaultIp: string,
  limits: Limits,
  hub: ServiceHub,
  /** The ready line, without a level (an info line). */
  log: (line: string) => void
): Promise<TcpListener> {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true })
  const ip = listener.ip ?? defaultIp
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(listenError(`wharf.tcp (${name})`, ip, listener.port, error))
    )
    server.listen(listener.port, ip, () => resolve())
  })
  const bound = server.address() as AddressInfo
  const localAddress = authority(bound.address, bound.port)
  server.on('connection', (socket: net.Socket) => {
    socket.on('error', () => undefined)
    const remoteAddress =
      socket.remoteAddress === undefined
        ? undefined
        : authority(socket.remoteAddress, socket.remotePort ?? 0)
    hub
      .accept(
        name,
        socket,
        {
          ...(listener.entrypoint === undefined ? {} : { entrypoint: listener.entrypoint }),
          localAddress,
          ...(remoteAddress === undefined ? {} : { remoteAddress }),
        },
        AbortSignal.timeout(limits.connectTimeoutMs)
      )
      .then(
        (ok) => {
          if (!ok) socket.destroy()
        },
        () => socket.destroy()
      )
  })
  log(
    `TCP ${localAddress} -> ${name}'s connect() handler${listener.entrypoint === undefined ? '' : ` (${listener.entrypoint})`}`
  )
  return {
    address: bound.address,
    port: bound.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
