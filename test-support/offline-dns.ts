/**
 * Run by scripts/test.mjs: a DNS server that answers NXDOMAIN for every name, for the whole test
 * run. The launcher runs the tests in a mount namespace whose /etc/resolv.conf names only this
 * server, so a test that looks up a name that should not resolve (`*.invalid`, hostile inputs)
 * gets its failure here and no query leaves the machine. Prints the resolv.conf path, then
 * serves until its stdin closes (the launcher exits).
 */
import { startTestDns } from './dns.js'

const dns = await startTestDns({ answer: 'nxdomain' })
process.stdout.write(`${dns.resolvConf}\n`)
process.stdin.resume()
let stopping = false
// stdin ends and then closes: stop once (closing the socket twice would throw).
const stop = (): void => {
  if (stopping) return
  stopping = true
  void dns.stop().then(() => process.exit(0))
}
process.stdin.on('end', stop)
process.stdin.on('close', stop)
