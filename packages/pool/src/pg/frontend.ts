/**
 * Client (frontend) messages after start-up, decoded once: the session, the cache front and the
 * statement rewriter all read these fields instead of re-parsing the bytes. Anything that is not
 * a protocol 3.0 frontend message is a ProtocolError.
 */
import { ProtocolError } from '../errors.js'
import * as sql from './sql.js'
import { BodyReader, type Frame } from './wire.js'

interface Base<T extends string> {
  readonly type: T
  /** The message as received: forwarded unchanged when nothing is rewritten. */
  readonly frame: Frame
}

export interface QueryMessage extends Base<'Q'> {
  readonly text: string
  /** `sql.blank(text)`, computed on first use. */
  blanked?: string
}
export interface ParseMessage extends Base<'P'> {
  readonly name: string
  readonly text: string
  readonly types: readonly number[]
  blanked?: string
}
export interface BindMessage extends Base<'B'> {
  readonly portal: string
  readonly statement: string
  /** Everything after the statement name: formats, values, result formats. */
  readonly rest: Buffer
}
/** Describe and Close: `target` is the kind byte ('S' statement, 'P' portal). */
export interface TargetMessage extends Base<'D' | 'C'> {
  readonly target: number
  readonly name: string
}
export interface ExecuteMessage extends Base<'E'> {
  readonly portal: string
  readonly maxRows: number
}
export type OtherMessage = Base<'S' | 'H' | 'X' | 'F' | 'd' | 'c' | 'f'>

export type ClientMessage =
  QueryMessage | ParseMessage | BindMessage | TargetMessage | ExecuteMessage | OtherMessage

export const STATEMENT = 0x53

export function decodeClient(frame: Frame): ClientMessage {
  const r = new BodyReader(frame.body)
  switch (frame.type) {
    case 'Q':
      return { type: 'Q', frame, text: r.cstring() }
    case 'P': {
      const name = r.cstring()
      const text = r.cstring()
      // Unsigned on the wire (0..65535, PostgreSQL's own limit), one int32 OID each.
      const n = r.uint16()
      if (n * 4 > r.remaining) throw new ProtocolError('bad parameter count in Parse')
      const types: number[] = new Array<number>(n)
      for (let k = 0; k < n; k++) types[k] = r.int32()
      return { type: 'P', frame, name, text, types }
    }
    case 'B': {
      const portal = r.cstring()
      const statement = r.cstring()
      return { type: 'B', frame, portal, statement, rest: r.rest() }
    }
    case 'D':
    case 'C': {
      const target = r.byte()
      return { type: frame.type, frame, target, name: r.cstring() }
    }
    case 'E':
      return { type: 'E', frame, portal: r.cstring(), maxRows: r.int32() }
    case 'S':
    case 'H':
    case 'X':
    case 'F':
    case 'd':
    case 'c':
    case 'f':
      return { type: frame.type, frame }
    default:
      throw new ProtocolError(`unexpected message '${frame.type}' from the client`)
  }
}

/** The statement text with comments and literals blanked, computed once per message. */
export function blanked(message: QueryMessage | ParseMessage): string {
  return (message.blanked ??= sql.blank(message.text))
}
