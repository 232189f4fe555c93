// The VFS in-process (no workerd needed): a request's /tmp is bounded, dropped with the request,
// never shared, and cheap; requests that never touch fs make nothing.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { bundleFiles } from '../src/runtime/node/fs/bundle.js'
import * as fs from '../src/runtime/node/fs/sync.js'
import { TMP_MAX_BYTES, TMP_MAX_NODES, setBundle } from '../src/runtime/node/fs/tree.js'
import { RequestScope, requestStore } from '../src/runtime/request-scope.js'

const dir = mkdtempSync(join(tmpdir(), 'wharf-vfs-limits-'))
writeFileSync(join(dir, 'worker.mjs'), 'export default {} // bundle text')
setBundle({ 'worker.js': join(dir, 'worker.mjs') })
after(() => rmSync(dir, { recursive: true, force: true }))

let ids = 0
const inRequest = <T>(fn: () => T): T => requestStore.run(new RequestScope(++ids), fn)

describe('the VFS in one process', () => {
  it('reads /bundle from the version directory and nothing else of the host', () => {
    inRequest(() => {
      assert.equal(fs.readFileSync('/bundle/worker.js', 'utf8'), 'export default {} // bundle text')
      assert.equal(fs.existsSync(join(dir, 'worker.mjs')), false, 'the real path is not there')
      assert.throws(() => fs.readFileSync('/etc/hostname'), { code: 'ENOENT', syscall: 'readAll' })
      fs.symlinkSync('/../../../etc/passwd', '/tmp/up')
      assert.throws(() => fs.readFileSync('/tmp/up'), { code: 'ENOENT' })
    })
  })

  it('bounds a request’s /tmp bytes with ENOSPC, and gives bytes back on unlink', () => {
    inRequest(() => {
      const chunk = Buffer.alloc(1024 * 1024, 1)
      for (let i = 0; i < TMP_MAX_BYTES / chunk.byteLength; i++)
        fs.writeFileSync(`/tmp/f${i}`, chunk)
      assert.throws(() => fs.writeFileSync('/tmp/more', 'x'), {
        code: 'ENOSPC',
        syscall: 'writeAll',
        message: "no space left on device, writeAll '/tmp/more'",
      })
      const fd = fs.openSync('/tmp/f0', 'a')
      assert.throws(() => fs.writeSync(fd, 'x'), { code: 'ENOSPC', syscall: 'write' })
      fs.unlinkSync('/tmp/f0')
      fs.writeFileSync('/tmp/more', 'x')
      assert.equal(fs.readFileSync('/tmp/more', 'utf8'), 'x')
    })
    // The next request starts empty: the full one's bytes were its own.
    inRequest(() => {
      assert.deepEqual(fs.readdirSync('/tmp'), [])
      fs.writeFileSync('/tmp/a', Buffer.alloc(1024 * 1024))
    })
  })

  it('bounds the number of entries, and link loops end in ELOOP', () => {
    inRequest(() => {
      assert.throws(
        () => {
          for (let i = 0; i <= TMP_MAX_NODES; i++) fs.mkdirSync(`/tmp/d${i}`)
        },
        { code: 'ENOSPC', syscall: 'mkdir' }
      )
    })
    inRequest(() => {
      fs.symlinkSync('/tmp/b', '/tmp/a')
      fs.symlinkSync('/tmp/a', '/tmp/b')
      assert.throws(() => fs.readFileSync('/tmp/a'), { code: 'ELOOP' })
      assert.throws(() => fs.statSync('/tmp/a/x'), { code: 'ELOOP' })
    })
  })

  it('module scope has a /tmp of its own, apart from every request', () => {
    fs.writeFileSync('/tmp/module', 'm')
    inRequest(() => assert.equal(fs.existsSync('/tmp/module'), false))
    assert.equal(fs.readFileSync('/tmp/module', 'utf8'), 'm')
  })

  it('costs a few microseconds per bundle read and per small /tmp write and read', () => {
    const rounds = 10_000
    const perOp = (fn: () => void): number => {
      for (let i = 0; i < 1000; i++) fn()
      const started = process.hrtime.bigint()
      for (let i = 0; i < rounds; i++) fn()
      return Number(process.hrtime.bigint() - started) / rounds / 1000
    }
    const [bundleUs, tmpUs] = inRequest(() => [
      perOp(() => fs.readFileSync('/bundle/worker.js')),
      perOp(() => {
        fs.writeFileSync('/tmp/small', 'hello')
        fs.readFileSync('/tmp/small', 'utf8')
      }),
    ])
    // The same on the host's disk (Node's fs), measured now: the machine is shared, so the
    // bounds are relative. A VFS that hit the disk or copied its tree would be far above them.
    const real = join(dir, 'small')
    const realReadUs = perOp(() => readFileSync(join(dir, 'worker.mjs')))
    const realTmpUs = perOp(() => {
      writeFileSync(real, 'hello')
      readFileSync(real, 'utf8')
    })
    console.log(
      `vfs: /bundle read ${bundleUs.toFixed(2)} µs (Node's fs ${realReadUs.toFixed(2)}), ` +
        `/tmp write+read ${tmpUs.toFixed(2)} µs (Node's fs ${realTmpUs.toFixed(2)})`
    )
    assert.ok(bundleUs < realReadUs * 2 + 10, `bundle read ${bundleUs} µs`)
    assert.ok(tmpUs < realTmpUs * 2 + 10, `tmp write+read ${tmpUs} µs`)
  })
})

describe('what /bundle holds', () => {
  it('a bundled Worker: one module named after its entry with .js, as wrangler names it', () => {
    assert.deepEqual(bundleFiles('/v1/worker.mjs', '/project/src/index.ts', false), {
      'index.js': '/v1/worker.mjs',
    })
    assert.deepEqual(bundleFiles('/v1/worker.mjs', undefined, false), {
      'worker.js': '/v1/worker.mjs',
    })
  })

  it('a no_bundle Worker: its JavaScript modules by their paths, and nothing else', () => {
    const version = mkdtempSync(join(tmpdir(), 'wharf-vfs-nobundle-'))
    try {
      mkdirSync(join(version, 'lib'))
      writeFileSync(join(version, 'index.js'), '')
      writeFileSync(join(version, 'lib', 'util.mjs'), '')
      writeFileSync(join(version, 'index.js.map'), '')
      writeFileSync(join(version, 'package.json'), '{}')
      assert.deepEqual(bundleFiles(join(version, 'index.js'), 'index.js', true), {
        'index.js': join(version, 'index.js'),
        'lib/util.mjs': join(version, 'lib', 'util.mjs'),
      })
    } finally {
      rmSync(version, { recursive: true, force: true })
    }
  })
})
