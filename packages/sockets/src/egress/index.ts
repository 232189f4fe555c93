/**
 * `@wharf/sockets/egress`: the egress policy `connect()` consults when a runtime installs it.
 * See docs/egress.md for the rule syntax, the default ranges and how decisions are made.
 *
 * @module
 */
export { createEgressPolicy } from './policy.js'
export type { EgressPolicyOptions, LookupAnswer, Resolver } from './policy.js'
export { parseRule } from './rules.js'
export type { Rule, Category } from './rules.js'
export { EgressConfigError, EgressDnsTimeoutError, EgressRuleError } from '../errors.js'
export type { AddressClass, Classification } from './ranges.js'
export type { Ip } from './ip.js'
export { unbracketHost } from '../address.js'
export { deniedChannel } from './diagnostics.js'
export type { EgressAllowed, EgressDecision, EgressDenied, EgressPolicy } from './types.js'
