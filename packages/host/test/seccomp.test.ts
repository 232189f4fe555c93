// The runtime sandbox's seccomp filter (seccomp.ts) against the real kernel: Perl's syscall()
// (perl-base is essential in Debian) makes each call the filter must refuse, inside the same
// bubblewrap sandbox with the filter and without it. Without, every one of them does something
// else (works, or fails its own way), which proves the call really reaches the kernel and that
// the filter is what refuses it; the calls Node itself needs keep working with it.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { filterProgram, seccompFilter, seccompSupported } from '../src/seccomp.js'
import { which } from '../src/sandbox.js'

const EPERM = 1
const ENOSYS = 38

/** name: [syscall number on x86_64, on aarch64, ...arguments]. */
const CALLS: Record<string, [number, number, ...number[]]> = {
  'ptrace(PTRACE_TRACEME)': [101, 117, 0, 0, 0, 0],
  'keyctl(GET_KEYRING_ID, session)': [250, 219, 0, -3, 0],
  'bpf(999)': [321, 280, 999, 0, 0],
  'userfaultfd(USER_MODE_ONLY)': [323, 282, 1],
  'perf_event_open(NULL)': [298, 241, 0, 0, -1, -1, 0],
  'mount(bad pointers)': [165, 40, 1, 1, 1, 0, 0],
  'unshare(CLONE_NEWUSER)': [272, 97, 0x10000000],
  'kexec_load()': [246, 104, 0, 0, 0, 0],
  'io_uring_setup(1, NULL)': [425, 425, 1, 0],
  'kill(0, 0)': [62, 129, 0, 0],
  'kill(-1, 0)': [62, 129, -1, 0],
}

const SCRIPT = `
my ($nr, @args) = @ARGV;
$! = 0;
my $r = syscall($nr + 0, map { $_ + 0 } @args);
print $r < 0 ? "errno " . ($! + 0) : "ok $r";
`
const TIOCSTI_SCRIPT = `
open(my $tty, '<', '/dev/null') or die;
my $c = "x";
$! = 0;
my $r = ioctl($tty, 0x5412, $c);
print defined $r ? "ok" : "errno " . ($! + 0);
`

const bwrap = which('bwrap')
const x64 = process.arch === 'x64'

function inSandbox(filter: boolean, script: string, args: string[]): string {
  const result = spawnSync(
    bwrap ?? 'bwrap',
    [
      '--unshare-user',
      '--unshare-pid',
      '--uid',
      '65534',
      '--gid',
      '65534',
      '--cap-drop',
      'ALL',
      '--die-with-parent',
      '--new-session',
      '--ro-bind',
      '/',
      '/',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      ...(filter ? ['--seccomp', '0'] : []),
      'perl',
      '-e',
      script,
      ...args,
    ],
    { input: filter ? seccompFilter() : '', encoding: 'utf8', timeout: 10_000, env: {} }
  )
  assert.equal(result.status, 0, `${result.stderr}${result.error?.message ?? ''}`)
  return result.stdout
}

describe('seccomp filter', { skip: !seccompSupported() && `no filter for ${process.arch}` }, () => {
  it('is a well-formed classic-BPF program whose jumps all land inside it', () => {
    const program = filterProgram()
    assert.ok(program.length > 10 && program.length < 4096)
    program.forEach(([code, jt, jf], i) => {
      if ((code & 0x07) === 0x05) {
        assert.ok(i + 1 + jt < program.length && i + 1 + jf < program.length, `jump at ${i}`)
      }
    })
    const last = program[program.length - 1]
    assert.deepEqual(last, [0x06, 0, 0, 0x7fff0000], 'ends in RET ALLOW')
    assert.equal(seccompFilter().length, program.length * 8)
  })

  for (const [name, [nrX64, nrArm, ...args]] of Object.entries(CALLS)) {
    it(`${name}: refused with EPERM, and does something else without the filter`, () => {
      const nr = String(x64 ? nrX64 : nrArm)
      const argv = [nr, ...args.map(String)]
      assert.equal(inSandbox(true, SCRIPT, argv), `errno ${EPERM}`)
      assert.notEqual(inSandbox(false, SCRIPT, argv), `errno ${EPERM}`)
    })
  }

  it('clone3 answers ENOSYS (so glibc falls back to clone, whose flags the filter reads)', () => {
    assert.equal(inSandbox(true, SCRIPT, ['435', '0', '0']), `errno ${ENOSYS}`)
    assert.notEqual(inSandbox(false, SCRIPT, ['435', '0', '0']), `errno ${ENOSYS}`)
  })

  it('a new process is refused: fork() (a clone without CLONE_THREAD), and the fork syscall', () => {
    const forkScript = `
my $p = fork();
if (!defined $p) { print "errno " . ($! + 0) } elsif ($p == 0) { exit 0 } else { waitpid($p, 0); print "ok" }
`
    assert.equal(inSandbox(true, forkScript, []), `errno ${EPERM}`)
    assert.equal(inSandbox(false, forkScript, []), 'ok')
    if (x64) {
      // The raw fork and vfork syscalls (x86_64 only); unfiltered, vfork would share perl's memory.
      assert.equal(inSandbox(true, SCRIPT, ['57']), `errno ${EPERM}`)
      assert.equal(inSandbox(true, SCRIPT, ['58']), `errno ${EPERM}`)
    }
  })

  it('ioctl(TIOCSTI) is refused on any descriptor', () => {
    assert.equal(inSandbox(true, TIOCSTI_SCRIPT, []), `errno ${EPERM}`)
    // /dev/null is no terminal: without the filter the kernel says so (ENOTTY).
    assert.equal(inSandbox(false, TIOCSTI_SCRIPT, []), 'errno 25')
  })

  it('leaves what the runtime needs: getpid and kill of its own pid (the serve suites run Node, its threads and its watchdog under the filter)', () => {
    assert.match(inSandbox(true, SCRIPT, [x64 ? '39' : '172']), /^ok \d+$/)
    const self = `$! = 0; my $r = syscall(${x64 ? 62 : 129}, $$ + 0, 0); print $r < 0 ? "errno " . ($! + 0) : "ok"`
    assert.equal(inSandbox(true, self, []), 'ok')
  })
})
