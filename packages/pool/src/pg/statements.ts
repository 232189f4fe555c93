/**
 * Statement rewriting. A client's named prepared statements are shared across origin
 * connections under internal names (one per text and parameter types, pooler-wide), and
 * re-Parsed on a connection that lacks them before a Bind or Describe uses them. Parse, Bind,
 * Describe and Close are rewritten here; each also says which reply it expects.
 */
import { ProtocolError } from '../errors.js'
import { MAX_PREPARED_PER_ORIGIN } from './origin-driver.js'
import type { OriginConnection } from './origin.js'
import * as m from './protocol.js'
import type { BindMessage, ParseMessage, TargetMessage } from './frontend.js'
import { STATEMENT } from './frontend.js'
import type { ReplyQueue } from './replies.js'
import { MessageWriter } from './wire.js'

export interface Statement {
  readonly text: string
  readonly types: readonly number[]
  readonly internal: string
}

const MAX_STATEMENTS_PER_CLIENT = 10_000
const MAX_INTERNAL_NAMES = 100_000
/** A name no statement has: Close of a client's statement must still be answered in order. */
const CLOSE_NOTHING = new MessageWriter().byte(STATEMENT).cstring('wharf_none').build('C')

export class StatementRewriter {
  private readonly statements = new Map<string, Statement>()

  constructor(
    /** Internal names by (types, text), shared by every session of the pooler. */
    private readonly names: Map<string, string>,
    private readonly replies: ReplyQueue
  ) {}

  get(name: string): Statement | undefined {
    return name === '' ? undefined : this.statements.get(name)
  }

  private internalName(text: string, types: readonly number[]): string {
    const key = `${types.join(',')}\0${text}`
    let name = this.names.get(key)
    if (!name) {
      name = `wharf_${this.names.size + 1}`
      if (this.names.size < MAX_INTERNAL_NAMES) this.names.set(key, name)
    }
    return name
  }

  private preparedOn(conn: OriginConnection, internal: string): void {
    conn.prepared.set(internal, true)
    // Too many on one origin connection: DEALLOCATE ALL when it is next returned.
    if (conn.prepared.size > MAX_PREPARED_PER_ORIGIN) conn.dirty = true
  }

  /** The origin connection lacks the statement: prepare it first, invisibly to the client. */
  private ensurePrepared(conn: OriginConnection, st: Statement): void {
    if (conn.prepared.has(st.internal)) return
    this.preparedOn(conn, st.internal)
    this.replies.skip('parse')
    conn.write(m.parse(st.internal, st.text, st.types))
  }

  parse(conn: OriginConnection, msg: ParseMessage): void {
    if (msg.name === '') {
      this.replies.forward('parse')
      conn.write(msg.frame.raw)
      return
    }
    if (this.statements.size >= MAX_STATEMENTS_PER_CLIENT && !this.statements.has(msg.name)) {
      throw new ProtocolError(`more than ${MAX_STATEMENTS_PER_CLIENT} prepared statements`)
    }
    const internal = this.internalName(msg.text, msg.types)
    this.statements.set(msg.name, { text: msg.text, types: msg.types, internal })
    if (conn.prepared.has(internal)) {
      this.replies.fake('parse', m.PARSE_COMPLETE)
      return
    }
    this.preparedOn(conn, internal)
    this.replies.forward('parse')
    conn.write(m.parse(internal, msg.text, msg.types))
  }

  bind(conn: OriginConnection, msg: BindMessage): void {
    const st = this.get(msg.statement)
    if (!st) {
      this.replies.forward('bind')
      conn.write(msg.frame.raw)
      return
    }
    // The injected Parse goes (and is answered) first: its expectation comes first too.
    this.ensurePrepared(conn, st)
    this.replies.forward('bind')
    conn.write(
      new MessageWriter().cstring(msg.portal).cstring(st.internal).bytes(msg.rest).build('B')
    )
  }

  describe(conn: OriginConnection, msg: TargetMessage): void {
    if (msg.target !== STATEMENT) {
      this.replies.forward('describeP')
      conn.write(msg.frame.raw)
      return
    }
    const st = this.get(msg.name)
    if (st) {
      this.ensurePrepared(conn, st)
      this.replies.forward('describeS')
      conn.write(new MessageWriter().byte(STATEMENT).cstring(st.internal).build('D'))
      return
    }
    this.replies.forward('describeS')
    conn.write(msg.frame.raw)
  }

  close(conn: OriginConnection, msg: TargetMessage): void {
    this.replies.forward('close')
    if (msg.target === STATEMENT && msg.name !== '') {
      // The origin statement is shared: close the client's name only. Closing a name that does
      // not exist is not an error, so the origin still answers CloseComplete in order.
      this.statements.delete(msg.name)
      conn.write(CLOSE_NOTHING)
      return
    }
    conn.write(msg.frame.raw)
  }
}
