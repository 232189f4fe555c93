// SCRAM-SHA-256 both ways, without a server: RFC 7677's test vector, and properties of the
// exchange (right password passes, anything else fails).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { makeVerifier, md5Password, ScramClient, ScramServer } from '../src/pg/scram.js'

describe('pg/scram.ts', () => {
  it('the client matches RFC 7677 section 3', () => {
    const client = new ScramClient('pencil')
    client.first()
    // The RFC's nonce and username: the client's own are random and '*'.
    Object.assign(client as unknown as Record<string, string>, {
      nonce: 'rOprNGfwEbeRWgbNEkqO',
      clientFirstBare: 'n=user,r=rOprNGfwEbeRWgbNEkqO',
    })
    const final = client.final(
      'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'
    )
    assert.equal(
      final,
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ='
    )
    client.verify('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')
    assert.throws(
      () => client.verify('v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='),
      /signature/
    )
  })

  it('client and server agree on the right password and refuse a wrong one', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ maxLength: 40 }),
        (password, other) => {
          const verifier = makeVerifier(password, 16)
          const ok = new ScramClient(password)
          const server = new ScramServer(verifier)
          const final = server.final(ok.final(server.first(ok.first())))
          ok.verify(final)
          if (other !== password) {
            const bad = new ScramClient(other)
            const s2 = new ScramServer(verifier)
            const clientFinal = bad.final(s2.first(bad.first()))
            assert.throws(() => s2.final(clientFinal), /wrong password/)
          }
        }
      ),
      { numRuns: 40 }
    )
  })

  it('refuses hostile server-first messages and tampered proofs', () => {
    const client = new ScramClient('pw')
    const first = client.first()
    const nonce = first.slice(first.indexOf('r=') + 2)
    assert.throws(() => client.final(`r=${nonce},s=c2FsdA==,i=4096`), /does not extend/)
    assert.throws(() => client.final(`r=other${nonce}x,s=c2FsdA==,i=4096`), /does not extend/)
    assert.throws(() => client.final(`r=${nonce}x,s=c2FsdA==,i=0`), /iteration/)
    assert.throws(() => client.final(`r=${nonce}x,s=c2FsdA==,i=99999999`), /iteration/)
    assert.throws(() => client.final(`r=${nonce}x,s=,i=4096`), /salt/)
    const server = new ScramServer(makeVerifier('pw', 16))
    const c = new ScramClient('pw')
    const clientFinal = c.final(server.first(c.first()))
    const tampered = clientFinal.replace(/p=(.)/, (_, ch: string) => `p=${ch === 'A' ? 'B' : 'A'}`)
    assert.throws(() => server.final(tampered), /wrong password|bad proof/)
    assert.throws(
      () => new ScramServer(makeVerifier('pw', 16)).first('y,,n=*,r=abcdefghij'),
      /channel binding/
    )
    assert.throws(() => new ScramServer(makeVerifier('pw', 16)).first('n,,n=*,r=short'), /nonce/)
  })

  it("md5 passwords are PostgreSQL's", () => {
    // pg_authid's md5 of 'password' for 'postgres' is the well-known 32e12f21...; the wire
    // answer is md5 of that hex and the salt.
    const salt = Buffer.from([1, 2, 3, 4])
    const expected =
      'md5' +
      createHash('md5')
        .update(Buffer.concat([Buffer.from('32e12f215ba27cb750c9e093ce4b5127'), salt]))
        .digest('hex')
    assert.equal(md5Password('postgres', 'password', salt), expected)
  })
})
