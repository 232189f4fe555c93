// Which certificate a PostgreSQL server presents now: SSLRequest, then a TLS handshake that
// accepts anything (it only looks), then the leaf's SHA-256 fingerprint.
import net from 'node:net'
import tls from 'node:tls'

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])

export function servedCertificate(port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const plain = net.connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => {
      plain.destroy()
      reject(new Error(`no TLS handshake with 127.0.0.1:${port} within ${timeoutMs} ms`))
    }, timeoutMs)
    const fail = (error: Error): void => {
      clearTimeout(timer)
      plain.destroy()
      reject(error)
    }
    plain.once('error', fail)
    plain.once('connect', () => plain.write(SSL_REQUEST))
    plain.once('data', (answer: Buffer) => {
      if (answer.toString('latin1', 0, 1) !== 'S') {
        fail(new Error('the server refused SSL'))
        return
      }
      const secure = tls.connect({ socket: plain, rejectUnauthorized: false })
      secure.once('error', fail)
      secure.once('secureConnect', () => {
        clearTimeout(timer)
        const fingerprint = secure.getPeerX509Certificate()?.fingerprint256 ?? ''
        secure.destroy()
        resolve(fingerprint)
      })
    })
  })
}
