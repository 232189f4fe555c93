/**
 * A plain SVG of small multiples: one panel per series, time on x, each panel scaled to its own
 * range (from 0), so a slope in any one of them is visible at a glance. No library: it is a
 * few polylines.
 */
export interface Series {
  readonly name: string
  readonly points: readonly (readonly [number, number])[]
}

const WIDTH = 720
const PANEL = 110
const PAD = 40

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function chart(series: readonly Series[], title: string): string {
  const height = PAD + series.length * (PANEL + 20)
  const tMax = Math.max(1, ...series.flatMap((s) => s.points.map(([t]) => t)))
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${PAD}" y="20" font-size="14">${esc(title)}</text>`,
  ]
  series.forEach((s, i) => {
    const top = PAD + i * (PANEL + 20)
    const finite = s.points.filter(([, y]) => Number.isFinite(y))
    const yMax = Math.max(1e-9, ...finite.map(([, y]) => y)) * 1.1
    const x = (t: number): number => PAD + (t / tMax) * (WIDTH - 2 * PAD)
    const y = (v: number): number => top + PANEL - (v / yMax) * PANEL
    out.push(
      `<text x="${PAD}" y="${top - 4}">${esc(s.name)} (max ${(yMax / 1.1).toFixed(1)})</text>`,
      `<rect x="${PAD}" y="${top}" width="${WIDTH - 2 * PAD}" height="${PANEL}" fill="none" stroke="#ccc"/>`,
      `<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="${finite
        .map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`)
        .join(' ')}"/>`,
      `<text x="${WIDTH - PAD}" y="${top + PANEL + 12}" text-anchor="end">${(tMax / 60).toFixed(1)} min</text>`
    )
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
