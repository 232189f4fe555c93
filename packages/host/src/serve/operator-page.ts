/**
 * The operator page: live figures from /status.json every 2 s, and the recent egress denials
 * (rule, host, Worker). Self-contained (no external resources); every value is inserted as text.
 */
export function operatorPage(): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>wharf serve</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:20px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.bad{color:#b00}.ok{color:#070}
</style></head><body>
<h1>wharf serve <span id="worker"></span></h1>
<p id="state">loading…</p>
<table id="figures"><tbody></tbody></table>
<h2>Requests by status</h2><table id="statuses"><tbody></tbody></table>
<h2>Recent egress denials</h2>
<table id="denials"><thead><tr><th>time</th><th>rule</th><th>host:port</th><th>Worker</th></tr></thead><tbody></tbody></table>
<script>
function rows(id, list) {
  const body = document.querySelector('#' + id + ' tbody')
  body.replaceChildren(...list.map((cells) => {
    const tr = document.createElement('tr')
    for (const c of cells) { const td = document.createElement('td'); td.textContent = String(c); tr.append(td) }
    return tr
  }))
}
async function refresh() {
  try {
    const s = await (await fetch('status.json', { cache: 'no-store' })).json()
    document.getElementById('worker').textContent = s.worker ? '— ' + s.worker : ''
    const state = document.getElementById('state')
    state.textContent = s.ready ? 'ready' : 'not ready'
    state.className = s.ready ? 'ok' : 'bad'
    const l = s.live
    rows('figures', [
      ['version', l.version], ['runtimes ready', l.runtimesReady], ['runtimes starting', l.runtimesStarting],
      ['runtimes draining', l.runtimesDraining], ['connections queued', l.connectionsQueued],
      ['sockets open', l.socketsOpen], ['sockets queued', l.socketsQueued],
      ['crash loop', l.crashLoop ? 'yes' : 'no'], ['CPU-limit stops', s.stops.cpu || 0],
      ['memory-limit stops', s.stops.memory || 0], ['crashes', s.stops.crash || 0],
    ])
    rows('statuses', Object.entries(s.requests))
    rows('denials', s.recentDenials.map((d) => [d.time, d.rule, d.host + ':' + d.port, d.worker]))
  } catch (e) {
    document.getElementById('state').textContent = 'the host did not answer'
  }
}
refresh()
setInterval(refresh, 2000)
</script></body></html>
`
}
