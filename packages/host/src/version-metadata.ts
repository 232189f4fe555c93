/**
 * `version_metadata`'s binding: what the running version is. Cloudflare gives the deployed
 * version's id, tag and upload time; wharf makes a new id for each build it loads (as wrangler
 * dev does), shared by every runtime process of that version, with an empty tag.
 */
import { randomUUID } from 'node:crypto'

export interface VersionMetadata {
  readonly binding: string
  readonly id: string
  readonly tag: string
  readonly timestamp: string
}

export function newVersionMetadata(binding: string | undefined): {
  versionMetadata?: VersionMetadata
} {
  if (binding === undefined) return {}
  return {
    versionMetadata: { binding, id: randomUUID(), tag: '', timestamp: new Date().toISOString() },
  }
}
