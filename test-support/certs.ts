// Test PKI: a throwaway CA and leaf certificates made with the system's openssl for each test run.
// Tests must never depend on checked-in keys, and each run gets fresh ones.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestCert {
  /** PEM private key of the leaf. */
  key: string
  /** PEM leaf certificate. */
  cert: string
  /** Paths of the same, for servers that want files (PostgreSQL, Redis). */
  keyPath: string
  certPath: string
}

export interface TestPki {
  /** PEM of the CA that signed every leaf. */
  ca: string
  caPath: string
  dir: string
  /** A leaf for `localhost`, 127.0.0.1 and ::1. */
  localhost: TestCert
  /** A leaf for `wrong.example` only: hostname verification must refuse it for localhost. */
  wrongHost: TestCert
  /** A self-signed leaf for localhost that the CA did not sign: chain verification must refuse it. */
  untrusted: TestCert
  /** Issue another leaf signed by the CA. */
  issue(name: string, altNames: string[]): TestCert
}

let cached: TestPki | undefined

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

function leaf(dir: string, name: string, altNames: string[], selfSigned: boolean): TestCert {
  const keyPath = join(dir, `${name}.key`)
  const certPath = join(dir, `${name}.pem`)
  const csrPath = join(dir, `${name}.csr`)
  const extPath = join(dir, `${name}.ext`)
  writeFileSync(
    extPath,
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${altNames.join(',')}\n`
  )
  const cn = altNames[0]?.replace(/^DNS:|^IP:/, '') ?? name
  if (selfSigned) {
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '2',
        '-subj',
        `/CN=${cn}`,
        '-addext',
        `subjectAltName=${altNames.join(',')}`,
      ],
      dir
    )
  } else {
    openssl(
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        csrPath,
        '-subj',
        `/CN=${cn}`,
      ],
      dir
    )
    openssl(
      [
        'x509',
        '-req',
        '-in',
        csrPath,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        certPath,
        '-days',
        '2',
        '-extfile',
        extPath,
      ],
      dir
    )
  }
  return {
    key: readFileSync(keyPath, 'utf8'),
    cert: readFileSync(certPath, 'utf8'),
    keyPath,
    certPath,
  }
}

/** Creates (once per process) a CA and the standard leaves in a fresh temporary directory. */
export function testPki(): TestPki {
  if (cached) return cached
  const dir = mkdtempSync(join(tmpdir(), 'wharf-pki-'))
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=Wharf Test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir
  )
  const pki: TestPki = {
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    caPath: join(dir, 'ca.pem'),
    dir,
    localhost: leaf(dir, 'localhost', ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1'], false),
    wrongHost: leaf(dir, 'wrong', ['DNS:wrong.example'], false),
    untrusted: leaf(dir, 'untrusted', ['DNS:localhost', 'IP:127.0.0.1'], true),
    issue: (name, altNames) => leaf(dir, name, altNames, false),
  }
  cached = pki
  return pki
}
