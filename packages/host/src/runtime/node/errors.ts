/** The error workerd throws for the Node APIs it declares but does not implement. */
export class ERR_METHOD_NOT_IMPLEMENTED extends Error {
  readonly code = 'ERR_METHOD_NOT_IMPLEMENTED'
  constructor(name: string) {
    super(`The ${name} method is not implemented`)
    this.name = 'Error'
  }
}

/** A function that always throws workerd's not-implemented error for `name`. */
export function notImplemented(name: string): (...args: unknown[]) => never {
  return () => {
    throw new ERR_METHOD_NOT_IMPLEMENTED(name)
  }
}

/** workerd's (Node's) ERR_INVALID_ARG_TYPE for a missing string or object argument. */
export function requireType(value: unknown, name: string, type: 'string' | 'object'): void {
  if (type === 'string' ? typeof value === 'string' : typeof value === 'object' && value !== null)
    return
  const received = value === undefined ? 'undefined' : `type ${typeof value}`
  throw Object.assign(
    new TypeError(`The "${name}" argument must be of type ${type}. Received ${received}`),
    { code: 'ERR_INVALID_ARG_TYPE' }
  )
}
