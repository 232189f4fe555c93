// The MySQL statement reader: blanking, refusals, session-state effects, cacheability and the
// tables a write touches (pure functions; the behaviour against MariaDB is in the other tests).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as sql from '../../src/mysql/sql.js'

const stmts = (text: string): string[] => sql.statements(sql.blank(text))

describe('MySQL SQL reader', () => {
  it('blanks strings (with backslash escapes), comments and keeps executable comments', () => {
    assert.deepEqual(stmts("SELECT 'a;b\\'c;' ; SELECT 2"), ["SELECT '       '", 'SELECT 2'])
    assert.deepEqual(stmts('SELECT 1 # NOW(); \nFROM t'), [`SELECT 1${' '.repeat(10)}\nFROM t`])
    assert.deepEqual(stmts('SELECT 1 -- x; y\n'), ['SELECT 1'])
    assert.equal(stmts('SELECT 1 /* ; */').length, 1)
    // MySQL runs the body of /*! ... */: a SET inside one is seen.
    assert.equal(sql.stateEffect(stmts('/*!40101 SET NAMES utf8mb4 */')).pins, true)
    assert.deepEqual(stmts('SELECT * FROM `we;ird`'), ['SELECT * FROM `we_ird`'])
  })

  it('refuses SQL-level PREPARE/EXECUTE/DEALLOCATE, LOCAL INFILE and USE in a batch', () => {
    assert.match(sql.refusal(stmts("PREPARE s FROM 'SELECT 1'")) ?? '', /PREPARE/)
    assert.match(sql.refusal(stmts('EXECUTE s USING @a')) ?? '', /PREPARE/)
    assert.match(sql.refusal(stmts('DEALLOCATE PREPARE s')) ?? '', /DEALLOCATE/)
    assert.match(sql.refusal(stmts("LOAD DATA LOCAL INFILE 'x' INTO TABLE t")) ?? '', /LOCAL/)
    assert.equal(sql.refusal(stmts("LOAD DATA INFILE 'x' INTO TABLE t")), undefined)
    assert.match(sql.refusal(stmts('USE a; SELECT 1')) ?? '', /USE/)
    assert.equal(sql.refusal(stmts("SELECT 'PREPARE s'")), undefined)
    assert.equal(sql.useTarget('USE `my db`'), 'my db')
    assert.equal(sql.useTarget('use app;'), 'app')
    assert.equal(sql.useTarget('USE a; SELECT 1'), undefined)
  })

  it('sees session state: SET, user variables, locks, temporary tables', () => {
    const pins = (q: string): boolean => sql.stateEffect(stmts(q)).pins
    assert.equal(pins('SET @a = 1'), true)
    assert.equal(pins('SET SESSION sql_mode = ""'), true)
    assert.equal(pins('SET autocommit = 0'), true)
    assert.equal(pins('SELECT @a := 1'), true)
    assert.equal(pins('SELECT id INTO @x FROM t'), true)
    assert.equal(pins("SELECT GET_LOCK('l', 1)"), true)
    assert.equal(pins('CREATE TEMPORARY TABLE x (a INT)'), true)
    assert.equal(pins('SET GLOBAL max_connections = 10'), false)
    assert.equal(pins('SELECT @a'), false)
    assert.equal(pins("SELECT 'SET @a = 1'"), false)
    assert.equal(sql.stateEffect(stmts('LOCK TABLES t READ')).locksTables, true)
    assert.equal(sql.stateEffect(stmts('UNLOCK TABLES')).unlocksTables, true)
  })

  it('caches only deterministic single reads, and names their tables', () => {
    const read = (q: string): sql.ReadInfo => {
      const list = stmts(q)
      return sql.readInfo(list[0] ?? '', list.length)
    }
    assert.deepEqual(read('SELECT a FROM t WHERE id = 1'), {
      cacheable: true,
      tables: ['t'],
      unknownCalls: false,
    })
    assert.deepEqual(read('SELECT * FROM app.a JOIN `B` ON a.x = B.x, c').tables, ['a', 'b', 'c'])
    assert.equal(read('SELECT COUNT(*), LOWER(name) FROM t').cacheable, true)
    for (const q of [
      'SELECT NOW()',
      'SELECT RAND()',
      'SELECT UUID()',
      'SELECT CURRENT_TIMESTAMP',
      'SELECT LAST_INSERT_ID()',
      'SELECT * FROM t FOR UPDATE',
      'SELECT * FROM t LOCK IN SHARE MODE',
      'SELECT @@version',
      'SELECT my_func(1) FROM t',
      'SELECT * FROM information_schema.tables',
      'SELECT 1; SELECT 2',
      'SHOW TABLES',
      'INSERT INTO t VALUES (1)',
    ]) {
      assert.equal(read(q).cacheable, false, q)
    }
    assert.equal(read('SELECT my_func(1)').unknownCalls, true)
    assert.equal(read('SELECT NOW()').unknownCalls, false)
    // NOW() inside a string is not a call.
    assert.equal(read("SELECT a FROM t WHERE b = 'NOW()'").cacheable, true)
  })

  it('names the tables writes touch, or all when it cannot tell', () => {
    assert.deepEqual(sql.writes(stmts('INSERT INTO app.t (a) VALUES (1)')), ['t'])
    assert.deepEqual(sql.writes(stmts('INSERT IGNORE t VALUES (1)')), ['t'])
    assert.deepEqual(sql.writes(stmts('REPLACE INTO `T` VALUES (1)')), ['t'])
    assert.deepEqual(sql.writes(stmts('UPDATE t SET a = 1 WHERE id = 2')), ['t'])
    assert.deepEqual(sql.writes(stmts('DELETE FROM t WHERE id = 2')), ['t'])
    assert.deepEqual(sql.writes(stmts('TRUNCATE TABLE t')), ['t'])
    assert.deepEqual(sql.writes(stmts('BEGIN; UPDATE a SET x = 1; UPDATE b SET y = 2; COMMIT')), [
      'a',
      'b',
    ])
    assert.deepEqual(sql.writes(stmts('SELECT 1; SET @a = 1; SHOW TABLES')), [])
    assert.equal(sql.writes(stmts('UPDATE a JOIN b ON a.id = b.id SET a.x = 1')), 'all')
    assert.equal(sql.writes(stmts('DELETE a FROM a JOIN b ON a.id = b.id')), 'all')
    assert.equal(sql.writes(stmts('ALTER TABLE t ADD c INT')), 'all')
    assert.equal(sql.writes(stmts('CALL p()')), 'all')
    assert.equal(sql.writes(stmts('SELECT my_func()')), 'all')
    assert.deepEqual(sql.writes(stmts('SELECT NOW()')), [])
    assert.equal(sql.writes(stmts('INSERT INTO t (a) VALUES (my_func())')), 'all')
  })
})
