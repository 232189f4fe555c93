// Every scenario of the suite, in report order.
import type { Scenario } from '../src/types.js'
import { addressScenarios } from './address.js'
import { halfOpenScenarios } from './half-open.js'
import { lifecycleScenarios } from './lifecycle.js'
import { formScenarios } from './forms.js'
import { interopScenarios } from './interop.js'
import { manyScenarios } from './many.js'
import { misuseScenarios } from './misuse.js'
import { peerScenarios } from './peer.js'
import { raceScenarios } from './races.js'
import { optionScenarios } from './options.js'
import { streamScenarios } from './streams.js'
import { tlsScenarios } from './tls.js'

export const scenarios: readonly Scenario[] = [
  ...addressScenarios,
  ...optionScenarios,
  ...lifecycleScenarios,
  ...halfOpenScenarios,
  ...streamScenarios,
  ...tlsScenarios,
  ...misuseScenarios,
  ...raceScenarios,
  ...peerScenarios,
  ...interopScenarios,
  ...formScenarios,
  ...manyScenarios,
]
