/**
 * wrangler's module rules: which imported files become Text, Data or CompiledWasm modules. The
 * config's rules come first; the defaults apply unless a rule of the same type without
 * `fallthrough: true` replaced them (wrangler's order).
 */
export type ModuleType = 'ESModule' | 'CommonJS' | 'Text' | 'Data' | 'CompiledWasm'

export interface ModuleRule {
  readonly type: ModuleType
  readonly globs: readonly string[]
  readonly fallthrough?: boolean
}

export const MODULE_TYPES: readonly ModuleType[] = [
  'ESModule',
  'CommonJS',
  'Text',
  'Data',
  'CompiledWasm',
]

export const DEFAULT_RULES: readonly ModuleRule[] = [
  { type: 'Text', globs: ['**/*.txt', '**/*.html', '**/*.sql'] },
  { type: 'Data', globs: ['**/*.bin'] },
  { type: 'CompiledWasm', globs: ['**/*.wasm', '**/*.wasm?module'] },
]

/** The rules in force: the config's, then each default whose type no final config rule took. */
export function effectiveRules(configured: readonly ModuleRule[]): ModuleRule[] {
  const closed = new Set(configured.filter((r) => r.fallthrough !== true).map((r) => r.type))
  return [...configured, ...DEFAULT_RULES.filter((r) => !closed.has(r.type))]
}

/** A glob (`**`, `*`, `?`) as a regular expression over a `/`-separated path's tail. */
export function globToRegExp(glob: string): RegExp {
  let out = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? ''
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches any number of directories, including none.
      out += glob[i + 2] === '/' ? '(?:.*/)?' : '.*'
      i += glob[i + 2] === '/' ? 2 : 1
    } else if (c === '*') out += '[^/]*'
    else if (c === '?') out += '[^/]'
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`(?:^|/)${out}$`)
}

/** The rule type for a path (forward slashes), or undefined when no rule matches. */
export function ruleFor(rules: readonly ModuleRule[], path: string): ModuleType | undefined {
  const p = path.replace(/\\/g, '/')
  for (const rule of rules) {
    if (rule.globs.some((g) => globToRegExp(g).test(p))) return rule.type
  }
  return undefined
}

/** The module types a rule loads as a value: the file's content is the default export. */
export type ValueModuleType = 'Text' | 'Data' | 'CompiledWasm'

export function isValueModuleType(type: ModuleType | undefined): type is ValueModuleType {
  return type === 'Text' || type === 'Data' || type === 'CompiledWasm'
}

/** Files a rule loads as a value are read whole; past this they are refused. */
export const MAX_VALUE_MODULE_BYTES = 64 * 1024 * 1024

/**
 * The ES module a Text, Data or CompiledWasm file becomes: a string, an ArrayBuffer or a
 * WebAssembly.Module as its default export, as workerd gives them.
 */
export function valueModuleSource(type: ValueModuleType, bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (type === 'Text') return `export default ${JSON.stringify(buffer.toString('utf8'))};`
  const data = `Uint8Array.from(atob(${JSON.stringify(buffer.toString('base64'))}), (c) => c.charCodeAt(0))`
  return `export default ${type === 'Data' ? `${data}.buffer` : `new WebAssembly.Module(${data})`};`
}
