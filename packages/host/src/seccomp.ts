/**
 * The runtime sandbox's seccomp filter: a classic-BPF program for `bwrap --seccomp FD`, built
 * here because the only well-kept producer (libseccomp) needs a native addon or a compiler, and a
 * classic-BPF program is a plain array of 8-byte instructions over `struct seccomp_data`.
 *
 * It denies (EPERM) the kernel interfaces a Worker's runtime never needs and that a sandbox
 * escape or kernel exploit typically starts from: ptrace and other processes' memory, kexec,
 * mounts and new namespaces, keyrings, bpf, userfaultfd, perf events, io_uring (whose operations
 * would bypass this filter), module loading, and the terminal ioctls TIOCSTI (push keystrokes)
 * and TIOCLINUX; `kill()` of a process group (pid <= 0, which can reach processes outside the
 * PID namespace); `clone()` with namespace flags, and every new process: fork, vfork, and a
 * `clone()` that is not a thread. Node's permission model refuses child processes to JavaScript;
 * this refuses them to native code too (the runtime may load the host's fd-channel module). `clone3()` answers ENOSYS (its flags are behind
 * a pointer a filter cannot read), so glibc falls back to `clone()`. Any other architecture or
 * ABI than the one the host runs (i386 or x32 calls on x86_64) kills the process.
 */
import { arch } from 'node:process'

// struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
const NR = 0
const ARCH = 4
const ARG0_LO = 16
const ARG1_LO = 24

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const LD_W_ABS = 0x20
const JEQ_K = 0x15
const JGE_K = 0x35
const JSET_K = 0x45
const RET_K = 0x06

const RET_ALLOW = 0x7fff0000
const RET_KILL_PROCESS = 0x80000000
const RET_ERRNO = 0x00050000
const EPERM = 1
const ENOSYS = 38

const TIOCSPGRP = 0x5410
const TIOCSTI = 0x5412
const TIOCLINUX = 0x541c
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. */
const CLONE_THREAD = 0x00010000
const CLONE_NEW_ANY =
  0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
const X32_SYSCALL_BIT = 0x40000000

export interface SeccompTable {
  readonly audit: number
  readonly x32: boolean
  /** Denied outright with EPERM. */
  readonly denied: readonly number[]
  /** fork and vfork, where the architecture has them (aarch64 forks through clone only). */
  readonly forks: readonly number[]
  readonly ioctl: number
  readonly kill: number
  readonly clone: number
  readonly clone3: number
}

/** Syscall numbers (asm/unistd_64.h for x86_64, asm-generic/unistd.h for aarch64). */
const TABLES: Partial<Record<NodeJS.Architecture, SeccompTable>> = {
  x64: {
    audit: 0xc000003e,
    x32: true,
    // ptrace, process_vm_readv/writev, kexec_load, kexec_file_load, mount, umount2, pivot_root,
    // chroot, open_tree, move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr, unshare,
    // setns, add_key, request_key, keyctl, bpf, userfaultfd, perf_event_open, io_uring_setup/
    // enter/register, init_module, finit_module, delete_module, name_to_handle_at,
    // open_by_handle_at, swapon, swapoff, reboot, acct, quotactl, syslog, iopl, ioperm,
    // lookup_dcookie
    denied: [
      101, 310, 311, 246, 320, 165, 166, 155, 161, 428, 429, 430, 431, 432, 433, 442, 272, 308, 248,
      249, 250, 321, 323, 298, 425, 426, 427, 175, 313, 176, 303, 304, 167, 168, 169, 163, 179, 103,
      172, 173, 212,
    ],
    forks: [57, 58],
    ioctl: 16,
    kill: 62,
    clone: 56,
    clone3: 435,
  },
  arm64: {
    audit: 0xc00000b7,
    x32: false,
    // The same list in aarch64's numbering (no iopl/ioperm there).
    denied: [
      117, 270, 271, 104, 294, 40, 39, 41, 51, 428, 429, 430, 431, 432, 433, 442, 97, 268, 217, 218,
      219, 280, 282, 241, 425, 426, 427, 105, 273, 106, 264, 265, 224, 225, 142, 89, 60, 116, 18,
    ],
    forks: [],
    ioctl: 29,
    kill: 129,
    clone: 220,
    clone3: 435,
  },
}

/** One instruction: u16 code, u8 jt, u8 jf, u32 k, in the host's (little-endian) byte order. */
type Insn = readonly [code: number, jt: number, jf: number, k: number]

/** Whether this host's architecture has a filter (x86_64 and aarch64). */
export function seccompSupported(): boolean {
  return TABLES[arch] !== undefined
}

/** The filter's instructions (exported for tests). Jumps are relative, as BPF wants. */
export function filterProgram(table: SeccompTable | undefined = TABLES[arch]): Insn[] {
  if (table === undefined) throw new Error(`no seccomp filter for ${arch}`)
  const deny: Insn = [RET_K, 0, 0, RET_ERRNO | EPERM]
  const allow: Insn = [RET_K, 0, 0, RET_ALLOW]
  const out: Insn[] = [
    [LD_W_ABS, 0, 0, ARCH],
    [JEQ_K, 1, 0, table.audit],
    [RET_K, 0, 0, RET_KILL_PROCESS],
    [LD_W_ABS, 0, 0, NR],
  ]
  if (table.x32) out.push([JGE_K, 0, 1, X32_SYSCALL_BIT], [RET_K, 0, 0, RET_KILL_PROCESS])
  for (const nr of [...table.denied, ...table.forks]) out.push([JEQ_K, 0, 1, nr], deny)
  out.push([JEQ_K, 0, 1, table.clone3], [RET_K, 0, 0, RET_ERRNO | ENOSYS])
  // Each block below starts with the syscall number in A and ends in a return, so a jump past one
  // lands on the next block's test of A.
  out.push(
    [JEQ_K, 0, 6, table.ioctl],
    [LD_W_ABS, 0, 0, ARG1_LO],
    [JEQ_K, 3, 0, TIOCSTI],
    [JEQ_K, 2, 0, TIOCLINUX],
    [JEQ_K, 1, 0, TIOCSPGRP],
    allow,
    deny
  )
  out.push(
    [JEQ_K, 0, 5, table.kill],
    [LD_W_ABS, 0, 0, ARG0_LO],
    // pid 0 (the caller's process group) or negative (any group, or every process).
    [JEQ_K, 2, 0, 0],
    [JGE_K, 1, 0, 0x80000000],
    allow,
    deny
  )
  // clone(): a namespace flag is refused; then only a thread is allowed.
  out.push(
    [JEQ_K, 0, 5, table.clone],
    [LD_W_ABS, 0, 0, ARG0_LO],
    [JSET_K, 2, 0, CLONE_NEW_ANY],
    [JSET_K, 0, 1, CLONE_THREAD],
    allow,
    deny
  )
  out.push(allow)
  return out
}

/** The filter as bwrap reads it from its `--seccomp` descriptor. */
export function seccompFilter(): Buffer {
  const program = filterProgram()
  const bytes = Buffer.alloc(program.length * 8)
  program.forEach(([code, jt, jf, k], i) => {
    bytes.writeUInt16LE(code, i * 8)
    bytes.writeUInt8(jt, i * 8 + 2)
    bytes.writeUInt8(jf, i * 8 + 3)
    bytes.writeUInt32LE(k >>> 0, i * 8 + 4)
  })
  return bytes
}
