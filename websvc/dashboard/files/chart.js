// Small line and band charts on a plain canvas: enough for a dashboard,
// no library to vendor.

export const palette = ["#36c", "#c63", "#2a7", "#a3c", "#c33", "#3aa", "#886", "#e8a"];

/**
 * series: [{name, color, points: [[timeMs, value], ...], step?: bool}]
 * bands: [{from, to, color}] drawn behind (leadership).
 */
export function drawChart(canvas, { series = [], bands = [], windowMs = 300000, now = Date.now(), min = 0, unit = "" }) {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const left = 44, right = 8, top = 8, bottom = 18;
  const from = now - windowMs;
  let max = min + 1;
  for (const s of series) for (const [t, v] of s.points) if (t >= from && v > max) max = v;
  max = niceCeil(max);
  const x = (t) => left + ((t - from) / windowMs) * (w - left - right);
  const y = (v) => top + (1 - (v - min) / (max - min)) * (h - top - bottom);

  for (const b of bands) {
    if (b.to < from) continue;
    ctx.fillStyle = b.color;
    ctx.globalAlpha = 0.18;
    ctx.fillRect(x(Math.max(b.from, from)), top, Math.max(1, x(b.to) - x(Math.max(b.from, from))), h - top - bottom);
    ctx.globalAlpha = 1;
  }
  ctx.strokeStyle = "#ddd"; ctx.fillStyle = "#777"; ctx.lineWidth = 1;
  ctx.font = "11px system-ui, sans-serif";
  for (let i = 0; i <= 4; i++) {
    const v = min + ((max - min) * i) / 4;
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(w - right, yy); ctx.stroke();
    ctx.fillText(fmt(v) + unit, 2, yy + 4);
  }
  for (let m = 0; m <= windowMs / 60000; m++) {
    const t = now - m * 60000;
    ctx.fillText(m === 0 ? "now" : `-${m}m`, x(t) - 10, h - 4);
  }
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.lineWidth = 1.5;
    ctx.beginPath();
    let started = false, prev = null;
    for (const [t, v] of s.points) {
      if (t < from || v == null) { started = started && v != null; continue; }
      if (!started) { ctx.moveTo(x(t), y(v)); started = true; }
      else if (s.step && prev != null) { ctx.lineTo(x(t), y(prev)); ctx.lineTo(x(t), y(v)); }
      else ctx.lineTo(x(t), y(v));
      prev = v;
    }
    ctx.stroke();
  }
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  return v >= 100 ? Math.round(v).toString() : v >= 10 ? v.toFixed(0) : v.toFixed(1);
}
