// Each package as a consumer gets it from the registry: `npm pack` holds no tests, fixtures or
// sources, every file its exports map and bin name is present, and its types resolve for a
// consumer's `tsc` under both `node16` and `bundler` module resolution.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

const root = join(import.meta.dirname, '..')
const packages = ['sockets', 'host', 'pool', 'tunnel'] as const

interface PackageJson {
  name: string
  license: string
  exports: Record<string, string | Record<string, string>>
  bin?: Record<string, string>
}

function readPackage(dir: string): PackageJson {
  return JSON.parse(
    readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')
  ) as PackageJson
}

function packedFiles(dir: string): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: join(root, 'packages', dir),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 60_000,
  })
  const [entry] = JSON.parse(out) as [{ files: { path: string }[] }]
  return entry.files.map((f) => f.path)
}

/** Every file an exports map points at, under any condition. */
function exportTargets(pkg: PackageJson): string[] {
  const targets: string[] = []
  const walk = (value: unknown): void => {
    if (typeof value === 'string') targets.push(value.replace(/^\.\//, ''))
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(walk)
  }
  walk(pkg.exports)
  return targets
}

describe('packages as published', () => {
  for (const dir of packages) {
    test(`@wharf/${dir}: the tarball holds what a consumer needs and nothing else`, () => {
      const pkg = readPackage(dir)
      const files = packedFiles(dir)
      for (const required of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
        assert.ok(files.includes(required), `${required} is missing from the tarball`)
      }
      const stray = files.filter(
        (f) =>
          /(^|\/)(test|tests|fixtures|src)\//.test(f) ||
          (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
          f.endsWith('.map') ||
          f.endsWith('.tsbuildinfo')
      )
      assert.deepEqual(stray, [], 'tests, fixtures, sources and build state stay out')
      for (const target of [...exportTargets(pkg), ...Object.values(pkg.bin ?? {})]) {
        assert.ok(
          files.includes(target.replace(/^\.\//, '')),
          `${target} is in exports but not packed`
        )
      }
      const license = readFileSync(join(root, 'packages', dir, 'LICENSE'), 'utf8')
      assert.equal(pkg.license, 'Apache-2.0')
      assert.match(license, /Apache License\s+Version 2\.0/)
      assert.equal(license, readFileSync(join(root, 'LICENSE'), 'utf8'), 'same LICENSE as the root')
    })
  }

  describe("a consumer's tsc resolves every entry point's types", () => {
    let consumer: string
    before(() => {
      // Inside the repository so the packages' own dependencies (undici, @types/node) resolve
      // from its node_modules, while @wharf/* come from the tarballs, which sit nearer.
      mkdirSync(join(root, '.tmp'), { recursive: true })
      consumer = mkdtempSync(join(root, '.tmp', 'consumer-'))
      const tarballs = join(consumer, 'tarballs')
      mkdirSync(tarballs)
      for (const dir of packages) {
        const printed = execFileSync(
          'npm',
          ['pack', '--ignore-scripts', '--pack-destination', tarballs],
          { cwd: join(root, 'packages', dir), encoding: 'utf8', timeout: 60_000 }
        )
        // npm prints the tarball's name last.
        const name = printed.trim().split('\n').at(-1) ?? ''
        const target = join(consumer, 'node_modules', '@wharf', dir)
        mkdirSync(target, { recursive: true })
        execFileSync('tar', ['-xzf', join(tarballs, name), '-C', target, '--strip-components=1'])
      }
      const lines: string[] = []
      let n = 0
      for (const dir of packages) {
        const pkg = readPackage(dir)
        for (const [key, value] of Object.entries(pkg.exports)) {
          if (key === './package.json') continue
          const specifier = key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`
          const typesOnly = typeof value === 'object' && Object.keys(value).join() === 'types'
          if (typesOnly) {
            // Ambient declarations (`declare module 'cloudflare:sockets'`) are referenced, then used.
            lines.unshift(`/// <reference types="${specifier}" />`)
            lines.push(`import type * as entry${n++} from 'cloudflare:sockets'`)
          } else {
            lines.push(`import type * as entry${n++} from '${specifier}'`)
          }
        }
      }
      lines.push(
        'export type All = [' +
          Array.from({ length: n }, (_, i) => `typeof entry${i}`).join(', ') +
          ']'
      )
      writeFileSync(join(consumer, 'index.ts'), lines.join('\n') + '\n')
      writeFileSync(
        join(consumer, 'package.json'),
        JSON.stringify({ type: 'module', private: true })
      )
    })
    after(() => rmSync(consumer, { recursive: true, force: true }))

    for (const resolution of ['node16', 'bundler'] as const) {
      test(`moduleResolution ${resolution}`, () => {
        const tsconfig = {
          compilerOptions: {
            module: resolution === 'node16' ? 'node16' : 'esnext',
            moduleResolution: resolution,
            target: 'es2022',
            strict: true,
            noEmit: true,
            types: ['node'],
          },
          files: ['index.ts'],
        }
        writeFileSync(join(consumer, `tsconfig.${resolution}.json`), JSON.stringify(tsconfig))
        const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
        try {
          execFileSync(process.execPath, [tsc, '-p', `tsconfig.${resolution}.json`], {
            cwd: consumer,
            encoding: 'utf8',
            timeout: 120_000,
          })
        } catch (error) {
          const { stdout } = error as { stdout?: string }
          assert.fail(
            `tsc failed for a consumer with moduleResolution ${resolution}:\n${stdout ?? ''}`
          )
        }
      })
    }
  })
})
