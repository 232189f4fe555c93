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
process.stdin.on('close', () => void dns.stop().then(() => process.exit(0)))
process.stdin.on('end', () => void dns.stop().then(() => process.exit(0)))
