/** `wharf serve`'s own log lines: text like `wharf dev`'s, or one JSON object per line. */
import { logLine } from '../logger.js'

export type LogFormat = 'text' | 'json'
export type Level = 'info' | 'warn' | 'error'

export type ServeLog = (level: Level, msg: string, fields?: Record<string, unknown>) => void

export function serveLogger(format: LogFormat, write: (line: string) => void = logLine): ServeLog {
  if (format === 'json') {
    return (level, msg, fields) =>
      write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }))
  }
  return (level, msg, fields) => {
    const extra = fields
      ? Object.entries(fields)
          .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join('')
      : ''
    write(`[wharf:${level}] ${msg}${extra}`)
  }
}
