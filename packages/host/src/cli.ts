/** The `wharf` CLI entry point (placeholder until the host lands). */
export function main(_argv: string[]): Promise<number> {
  process.stderr.write('wharf: no commands yet\n')
  return Promise.resolve(1)
}
