// Every scenario of the suite, in report order.
import type { Scenario } from '../src/types.js'
import { addressScenarios } from './address.js'

export const scenarios: readonly Scenario[] = [...addressScenarios]
