/**
 * `node:test` as workerd gives it: the mock API only (`mock`, `MockTracker`,
 * `MockFunctionContext`), Node's own implementation. There is no test runner in a Worker.
 */
import { mock as nodeMock } from 'node:test'

export const mock = nodeMock
export const MockTracker = nodeMock.constructor
export const MockFunctionContext = nodeMock.fn().mock.constructor
nodeMock.reset()

export default { mock, MockFunctionContext, MockTracker }
