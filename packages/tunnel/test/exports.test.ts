// @wharf/tunnel's exports map: exactly the documented names, no internals (the handshake proofs,
// the frame codec and the secret parser are not public).
import { join } from 'node:path'
import { it } from 'node:test'
import { checkExportsMap } from '../../../test-support/exports-map.js'

it('every entry of the exports map exposes exactly its documented names', async () => {
  await checkExportsMap(
    join(import.meta.dirname, '..'),
    {
      '.': [
        'TUNNEL_USAGE',
        'TunnelAuthError',
        'TunnelConfigError',
        'TunnelConnector',
        'TunnelEdge',
        'TunnelError',
        'TunnelFlowError',
        'TunnelIngressDeniedError',
        'TunnelLimitError',
        'TunnelProtocolError',
        'TunnelTokenError',
        'TunnelUnavailableError',
        'formatToken',
        'newToken',
        'parseEdge',
        'parseIngress',
        'parseToken',
        'resolveTarget',
        'tunnelCommand',
      ],
    },
    ['proof', 'sameProof', 'newNonce', 'FrameReader', 'encode', 'parseSecret', 'isTunnelId']
  )
})
