// Upstream URLs: an IPv6 literal is connected to without its brackets, in both front ends (one
// helper, urlHost, does it for the pooler's URLs and the cache store's).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseUpstream, urlHost } from '../src/config.js'
import { parseMysqlUpstream } from '../src/mysql/pooler.js'

test('urlHost takes the brackets off an IPv6 literal and leaves names and IPv4 alone', () => {
  assert.equal(urlHost(new URL('redis://[::1]:6379')), '::1')
  assert.equal(urlHost(new URL('redis://[fd00::1]:6379')), 'fd00::1')
  assert.equal(urlHost(new URL('redis://127.0.0.1:6379')), '127.0.0.1')
  assert.equal(urlHost(new URL('redis://db.internal:6379')), 'db.internal')
})

test('both front ends connect to an IPv6 origin by its bare address', () => {
  const pg = parseUpstream('postgres://u@[::1]:5433/db', {
    connectTimeoutMs: 1000,
    maxMessageBytes: 1024 * 1024,
  })
  assert.equal(pg.host, '::1')
  assert.equal(pg.port, 5433)
  const mysql = parseMysqlUpstream('mysql://u@[fd00::2]:3307/db', {
    connectTimeoutMs: 1000,
    maxPacketBytes: 1024 * 1024,
  })
  assert.equal(mysql.host, 'fd00::2')
  assert.equal(mysql.port, 3307)
})
