/** `fs.Dir`: a directory handle over the listing taken when it is opened. */
import * as ops from './sync.js'

export class Dir {
  #entries: ops.Dirent[]
  constructor(readonly path: string) {
    this.#entries = ops.readdirSync(path, { withFileTypes: true }) as ops.Dirent[]
  }
  readSync(): ops.Dirent | null {
    return this.#entries.shift() ?? null
  }
  read(): Promise<ops.Dirent | null> {
    return Promise.resolve(this.readSync())
  }
  closeSync(): void {
    this.#entries = []
  }
  close(): Promise<void> {
    this.closeSync()
    return Promise.resolve()
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<ops.Dirent> {
    for (let entry = this.readSync(); entry !== null; entry = this.readSync())
      yield await Promise.resolve(entry)
  }
}
