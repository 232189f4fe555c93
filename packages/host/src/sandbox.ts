/**
 * The runtime process's sandbox: what the Worker's process may touch besides the network (which
 * isolation.ts cuts). Two layers:
 *
 * 1. The operating system, through bubblewrap (`bwrap`, Debian's `bubblewrap`, the sandbox
 *    Flatpak uses): new user, mount, PID, IPC, UTS and cgroup namespaces (and the network one
 *    when isolation is `netns`), an empty root holding only read-only binds of the Node binary,
 *    its shared libraries, the host's runtime code and the Worker's project, plus a private
 *    tmpfs `/tmp`, a minimal `/dev` and a `/proc` of its own PID namespace. It runs as uid/gid
 *    65534 with every capability dropped, in a new session, and dies with the supervisor. This
 *    is the boundary: Node's docs say its permission model is not one against malicious code.
 * 2. Node's permission model inside it: reads only from those same paths, no writes, no child
 *    processes, no addons, no WASI, and no worker threads except on Node without
 *    `module.registerHooks()` (20), whose `module.register()` loader hooks run in one.
 *
 * The host's own needs pass through: the IPC channel and the descriptors passed over it (accepted
 * connections, the broker's dialed sockets) are inherited fds, which neither layer closes.
 */
import { spawnSync } from 'node:child_process'
import {
  accessSync,
  constants,
  existsSync,
  readFileSync,
  readlinkSync,
  realpathSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { delimiter, dirname, isAbsolute, join, sep } from 'node:path'
import { WharfSandboxError } from './errors.js'
import { seccompFilter, seccompSupported } from './seccomp.js'

export type SandboxMode = 'auto' | 'strict' | 'off'

export interface Sandbox {
  readonly kind: 'bwrap' | 'off'
  /** Absolute path of `bwrap` (kind `bwrap`). */
  readonly bwrap?: string
  /** The seccomp filter bwrap installs (seccomp.ts), when this kernel and architecture take it. */
  readonly seccomp?: Buffer
  /** One line for the start-up log. */
  readonly description: string
}

/** The uid and gid the runtime runs as inside its user namespace ("nobody"). */
export const SANDBOX_UID = 65534

const LAYERS =
  'bubblewrap (own mount, PID, user and IPC namespaces; read-only bundle and modules, private /tmp; uid 65534, no capabilities; SECCOMP) + Node permission model (no child processes, WASI or file writes; native addons only under the seccomp filter, for the fd channel)'

/** Finds `name` on the PATH the supervisor was started with (the runtime gets no PATH). */
export function which(name: string): string | undefined {
  if (isAbsolute(name)) return existsSync(name) ? name : undefined
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (dir === '') continue
    const path = join(dir, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      // not here
    }
  }
  return undefined
}

/** The shared libraries `node` loads (their paths as the loader asks for them), via `ldd`. */
function sharedLibraries(node: string): string[] {
  const ldd = which('ldd')
  if (ldd === undefined) return []
  const result = spawnSync(ldd, [node], { encoding: 'utf8', timeout: 5000, env: {} })
  if (result.status !== 0) return []
  const libs = new Set<string>()
  for (const line of result.stdout.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)
    if (m?.[1] !== undefined) libs.add(m[1])
  }
  return [...libs]
}

const libraryCache = new Map<string, string[]>()

/** `--ro-bind` pairs for the Node binary and its libraries, each at the path it is looked up by. */
function nodeBinds(node: string): string[] {
  let libs = libraryCache.get(node)
  if (libs === undefined) {
    libs = sharedLibraries(node)
    libraryCache.set(node, libs)
  }
  const args: string[] = []
  for (const path of [node, ...libs]) args.push('--ro-bind', realpathSync(path), path)
  return args
}

/** The namespaces and identity every sandboxed runtime gets (network added by the caller). */
function baseArgs(): string[] {
  return [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_UID),
    '--cap-drop',
    'ALL',
    '--die-with-parent',
    '--new-session',
    // No --as-pid-1: a namespace's PID 1 cannot signal itself (the kernel drops SIGKILL from
    // inside), and the watchdog stops its process with kill(getpid(), SIGKILL). bwrap's own
    // init is PID 1 and reaps; the supervisor signals Node through its host PID (innerPid()).
    '--hostname',
    'wharf',
    '--tmpfs',
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
  ]
}

type Probe = { ok: true; seccomp: boolean; why?: string } | { ok: false; why: string }

let probed: Probe | undefined

/** One real sandboxed `node -e 0`, the filter (if any) read from its stdin. */
function tryStart(bwrap: string, filter: Buffer | undefined): string | undefined {
  const node = process.execPath
  const result = spawnSync(
    bwrap,
    [
      ...baseArgs(),
      '--unshare-net',
      ...(filter === undefined ? [] : ['--seccomp', '0']),
      ...nodeBinds(node),
      '--remount-ro',
      '/',
      node,
      '-e',
      '0',
    ],
    {
      encoding: 'utf8',
      timeout: 10_000,
      env: {},
      stdio: ['pipe', 'ignore', 'pipe'],
      input: filter ?? Buffer.alloc(0),
    }
  )
  if (result.status === 0) return undefined
  return (
    result.error?.message ??
    (result.stderr.trim().split('\n')[0] || `exit ${result.status ?? result.signal}`)
  )
}

/** Runs the sandbox once, with the filter and then without: the only reliable test of a kernel. */
function probe(bwrap: string): Probe {
  const filter = seccompSupported() ? seccompFilter() : undefined
  const withFilter =
    filter === undefined ? 'no filter for this architecture' : tryStart(bwrap, filter)
  if (withFilter === undefined) return { ok: true, seccomp: true }
  const plain = tryStart(bwrap, undefined)
  if (plain === undefined) return { ok: true, seccomp: false, why: withFilter }
  return { ok: false, why: `bwrap cannot start a sandbox here (${plain})` }
}

/** Resolves the configured mode: `strict` throws if this machine cannot sandbox. */
export function resolveSandbox(mode: SandboxMode): Sandbox {
  if (mode === 'off') {
    return {
      kind: 'off',
      description:
        'off: the Worker runs with the host user\u2019s files, processes and privileges (trusted code only)',
    }
  }
  const bwrap = which('bwrap')
  let outcome: Probe
  if (bwrap === undefined) {
    outcome = {
      ok: false,
      why: 'bwrap (Debian package bubblewrap) is not installed',
    }
  } else {
    probed ??= probe(bwrap)
    outcome = probed
  }
  if (outcome.ok && bwrap !== undefined) {
    const seccomp = outcome.seccomp ? seccompFilter() : undefined
    const layer = seccomp
      ? 'seccomp filter (no new processes, ptrace, mounts, namespaces, keyrings, bpf, io_uring, TIOCSTI)'
      : `no seccomp filter (${outcome.why ?? 'unavailable'})`
    return {
      kind: 'bwrap',
      bwrap,
      ...(seccomp === undefined ? {} : { seccomp }),
      description: LAYERS.replace('SECCOMP', layer),
    }
  }
  const why = outcome.ok ? 'bwrap not found' : outcome.why
  if (mode === 'strict') {
    throw new WharfSandboxError(
      `wharf.sandbox is "strict" but ${why}; install bubblewrap, enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0), or set "sandbox": "auto"`
    )
  }
  return {
    kind: 'off',
    description: `unavailable (${why}): the Worker runs unsandboxed with the host user\u2019s files and privileges`,
  }
}

/** Where a runtime package is looked up from `from` (Node's node_modules walk), and its realpath. */
function packageDirs(from: string, name: string): { lookup: string; real: string } | undefined {
  for (let dir = from, depth = 0; depth < 64; dir = dirname(dir), depth++) {
    const lookup = join(dir, 'node_modules', name)
    if (existsSync(join(lookup, 'package.json'))) return { lookup, real: realpathSync(lookup) }
    if (dirname(dir) === dir) break
  }
  return undefined
}

export interface RuntimeLayout {
  /** The host package's root (holding package.json and dist/). */
  readonly hostRoot: string
  /** Files and directories the Worker itself needs (its project, its main's directory). */
  readonly worker: readonly string[]
  /** The host's native module directory (the fd channel's `native/build`), when it is used. */
  readonly native?: string
}

/** Everything the runtime reads, as `[source, destination]`: the same path inside and out. */
export function readablePaths(layout: RuntimeLayout): {
  binds: [string, string][]
  links: [string, string][]
} {
  const binds = new Map<string, string>()
  const links: [string, string][] = []
  const host = realpathSync(layout.hostRoot)
  binds.set(join(host, 'package.json'), join(host, 'package.json'))
  binds.set(join(host, 'dist'), join(host, 'dist'))
  if (layout.native !== undefined) binds.set(realpathSync(layout.native), layout.native)
  const seen = new Set<string>()
  const addPackage = (from: string, name: string): void => {
    const dirs = packageDirs(from, name)
    if (dirs === undefined || seen.has(dirs.real)) return
    seen.add(dirs.real)
    if (dirs.real === dirs.lookup) {
      binds.set(dirs.real, dirs.real)
      return
    }
    // A workspace link (node_modules/@wharf/sockets -> packages/sockets): the link itself, then
    // only what the package publishes.
    links.push([readlinkSync(dirs.lookup), dirs.lookup])
    binds.set(join(dirs.real, 'package.json'), join(dirs.real, 'package.json'))
    binds.set(join(dirs.real, 'dist'), join(dirs.real, 'dist'))
  }
  addPackage(host, '@wharf/sockets')
  addPackage(host, 'undici')
  addPackage(host, 'unenv') // wrangler's stand-ins for built-ins workerd lacks at a date
  addPackage(host, 'core-js') // the JavaScript built-ins this Node lacks (language-features.ts)
  for (const path of layout.worker) {
    if (existsSync(path)) binds.set(realpathSync(path), path)
  }
  // A link inside a directory bound whole (the Worker's hoisted node_modules) is there already.
  const inside = (path: string): boolean =>
    [...binds.values()].some((dest) => path.startsWith(dest + sep))
  return { binds: [...binds], links: links.filter(([, path]) => !inside(path)) }
}

/**
 * Node's permission-model flags for this Node: reads from `paths` only, nothing else. Worker
 * threads are the host's own need in two cases: `module.register()` (Node 20's only loader hooks)
 * runs its hooks in one, and `wharf serve`'s CPU/memory watchdog is one (`hostThreads`). Worker
 * code still gets workerd's `node:worker_threads` stand-in (runtime/node/worker_threads.ts).
 */
export function permissionFlags(
  paths: readonly string[],
  hostThreads = false,
  addons = false
): string[] {
  const flags = process.allowedNodeEnvironmentFlags
  const flag = flags.has('--permission') ? '--permission' : '--experimental-permission'
  const out = [flag, ...paths.map((p) => `--allow-fs-read=${p}`)]
  // The fd channel's module. Native code bypasses the permission model, so this is only asked
  // for under the seccomp filter, which refuses new processes to native code too.
  if (addons) out.push('--allow-addons')
  const registerHooks = (createRequire(import.meta.url)('node:module') as Record<string, unknown>)
    .registerHooks
  if (hostThreads || typeof registerHooks !== 'function') out.push('--allow-worker')
  out.push('--disable-warning=ExperimentalWarning', '--disable-warning=SecurityWarning')
  return out
}

export interface RuntimeCommand {
  readonly file: string
  readonly args: string[]
  /** The runtime's whole environment: never the host's. */
  readonly env: Record<string, string>
  /** Bytes to write to descriptor `seccompFd` of the child (bwrap reads its filter there). */
  readonly seccomp?: Buffer
}

/**
 * The command that starts one runtime. `wrapper` is the isolation's (`unshare --net …`) when not
 * sandboxed; sandboxed, bubblewrap makes the network namespace itself when `isolated`.
 */
export function runtimeCommand(
  sandbox: Sandbox,
  options: {
    readonly node: string
    readonly nodeArgs: readonly string[]
    readonly entry: string
    readonly layout: RuntimeLayout
    readonly isolated: boolean
    readonly wrapper: readonly string[]
    /** The host runs a thread of its own in the runtime (serve's watchdog). */
    readonly hostThreads?: boolean
    /** The child's descriptor the caller opens as a pipe for the seccomp filter. */
    readonly seccompFd: number
  }
): RuntimeCommand {
  const env: Record<string, string> = {}
  if (sandbox.kind === 'off' || sandbox.bwrap === undefined) {
    const [wrapper, ...rest] = options.wrapper
    const node = [...options.nodeArgs, options.entry]
    if (wrapper === undefined) return { file: options.node, args: node, env }
    return { file: which(wrapper) ?? wrapper, args: [...rest, options.node, ...node], env }
  }
  const { binds, links } = readablePaths(options.layout)
  const args = [...baseArgs()]
  if (options.isolated) args.push('--unshare-net')
  if (sandbox.seccomp !== undefined) args.push('--seccomp', String(options.seccompFd))
  args.push(...nodeBinds(options.node))
  for (const [src, dest] of binds) args.push('--ro-bind', src, dest)
  for (const [target, path] of links) args.push('--symlink', target, path)
  args.push('--remount-ro', '/', '--chdir', '/')
  // The links too: resolving through one lstat()s it, and the permission model checks that.
  const readable = [...binds.map(([, dest]) => dest), ...links.map(([, path]) => path)]
  args.push(
    options.node,
    ...permissionFlags(readable, options.hostThreads, options.layout.native !== undefined),
    ...options.nodeArgs,
    options.entry
  )
  return {
    file: sandbox.bwrap,
    args,
    env,
    ...(sandbox.seccomp === undefined ? {} : { seccomp: sandbox.seccomp }),
  }
}

/**
 * What of the Worker the runtime reads: the bundle's version directory; with `no_bundle`, the
 * project directory, the main module's directory, and every `node_modules` and `package.json`
 * above the project (hoisted packages, and the `"type"` that decides how a `.js` file loads).
 */
export function workerPaths(data: {
  readonly main: string
  readonly projectDir?: string
  /** Read at request time; a build tool's config may name one outside the project directory. */
  readonly assets?: { readonly directory: string }
}): string[] {
  const project = data.projectDir ?? dirname(data.main)
  const paths = [project, dirname(data.main)]
  if (data.assets !== undefined) paths.push(data.assets.directory)
  for (let dir = dirname(project), depth = 0; depth < 64; dir = dirname(dir), depth++) {
    paths.push(join(dir, 'node_modules'), join(dir, 'package.json'))
    if (dirname(dir) === dir) break
  }
  return paths
}

/**
 * The host PID of the Node process a runtime command started: `pid` itself unless it is
 * bubblewrap, whose outer process (the one the supervisor spawned) waits for its namespace's init,
 * which waits for Node. bwrap forwards no signal, so a graceful SIGTERM must go to Node itself.
 */
export function innerPid(pid: number): number {
  let current = pid
  for (let depth = 0; depth < 3; depth++) {
    try {
      if (readFileSync(`/proc/${current}/comm`, 'utf8').trim() !== 'bwrap') return current
      const children = readFileSync(`/proc/${current}/task/${current}/children`, 'utf8')
        .trim()
        .split(/\s+/)
      const next = Number(children[0])
      if (children.length !== 1 || !Number.isInteger(next) || next <= 0) return current
      current = next
    } catch {
      return current
    }
  }
  return current
}
