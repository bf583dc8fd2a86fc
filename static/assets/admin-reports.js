// Operators: reports. Requests opened and resolved per week, time to first
// response and to resolution (working hours and wall clock), ratings per topic
// and per month. Charts are inline SVG built with DOM calls (no library, no
// markup strings); every number is also in a table next to its chart.
import { api } from '/assets/api.js';
import { chrome, el, when } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** "3 h 20 min", "2 d 4 h", "45 s". */
export function human(s) {
  if (s === null || s === undefined) return '—';
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
  return `${Math.floor(h / 24)} d${h % 24 ? ` ${h % 24} h` : ''}`;
}

/** Grouped bars: one group per label, one bar per series. */
function bars(container, title, labels, series) {
  const W = 720; const H = 220; const left = 36; const bottom = 34; const top = 10;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const group = (W - left) / Math.max(1, labels.length);
  const bw = Math.max(2, (group - 6) / series.length);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart', width: '100%' });
  chart.append(svg('title', {}, title));
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  for (const tick of [0, Math.ceil(max / 2), max]) {
    chart.append(svg('line', { x1: left, x2: W, y1: y(tick), y2: y(tick), stroke: '#dfe1e6' }),
      svg('text', { x: left - 4, y: y(tick) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5e6c84' }, String(tick)));
  }
  labels.forEach((label, i) => {
    series.forEach((s, j) => {
      const v = s.values[i];
      const rect = svg('rect', {
        x: left + i * group + 3 + j * bw, y: y(v), width: bw - 1, height: Math.max(0, y(0) - y(v)), fill: s.color,
      });
      rect.append(svg('title', {}, `${label}: ${s.name} ${v}`));
      chart.append(rect);
    });
    if (labels.length <= 14 || i % Math.ceil(labels.length / 14) === 0) {
      chart.append(svg('text', { x: left + i * group + group / 2, y: H - bottom + 14, 'text-anchor': 'middle', 'font-size': 10, fill: '#5e6c84' }, label.slice(5)));
    }
  });
  series.forEach((s, j) => {
    chart.append(svg('rect', { x: left + j * 120, y: H - 12, width: 10, height: 10, fill: s.color }),
      svg('text', { x: left + j * 120 + 14, y: H - 3, 'font-size': 11, fill: '#172b4d' }, s.name));
  });
  container.replaceChildren(chart);
}

async function load() {
  const weeks = $('weeks').value;
  $('csv').href = `/api/admin/reports?weeks=${encodeURIComponent(weeks)}&format=csv`;
  const r = await api('GET', `/api/admin/reports?weeks=${encodeURIComponent(weeks)}`);
  $('range').textContent = `From ${r.from.slice(0, 10)} to ${r.to.slice(0, 10)} (weeks start on Monday, UTC). Counted ${when(r.computed_at)}.`;
  $('hours').textContent = `Working hours: ${r.working_hours}. Requests opened in the range; a request not yet answered or resolved is not counted in that clock.`;
  const labels = r.weeks.map((w) => w.week_start);
  bars($('chart'), 'Requests opened and resolved per week', labels, [
    { name: 'Opened', color: '#0c66e4', values: r.weeks.map((w) => w.opened) },
    { name: 'Resolved', color: '#1f845a', values: r.weeks.map((w) => w.resolved) },
  ]);
  $('weekly').tBodies[0].replaceChildren(...r.weeks.map((w) => {
    const tr = el('tr', { 'data-week': w.week_start });
    tr.append(el('td', {}, w.week_start), el('td', {}, String(w.opened)), el('td', {}, String(w.resolved)));
    return tr;
  }));
  const clocks = [['First response', r.first_response], ['Resolution', r.resolution]];
  const hours = (s) => (s === null || s === undefined ? 0 : Math.round(s / 360) / 10);
  bars($('clock-chart'), 'Median and 90th percentile in working hours', clocks.map(([n]) => `     ${n}`), [
    { name: 'Median (working h)', color: '#0c66e4', values: clocks.map(([, c]) => hours(c.median_working_s)) },
    { name: '90th pct (working h)', color: '#7f5f01', values: clocks.map(([, c]) => hours(c.p90_working_s)) },
  ]);
  $('clocks').tBodies[0].replaceChildren(...clocks.map(([name, c]) => {
    const tr = el('tr', { 'data-clock': name });
    tr.append(el('th', { scope: 'row' }, name), el('td', {}, String(c.count)), el('td', {}, human(c.median_working_s)),
      el('td', {}, human(c.p90_working_s)), el('td', {}, human(c.median_wall_s)), el('td', {}, human(c.p90_wall_s)));
    return tr;
  }));
  for (const [id, list] of [['by-topic', r.ratings_by_topic], ['by-month', r.ratings_by_month]]) {
    const rows = list.map((x) => {
      const tr = el('tr', { 'data-label': x.label });
      tr.append(el('td', {}, x.label), el('td', {}, String(x.count)), el('td', {}, x.average.toFixed(2)));
      return tr;
    });
    if (!rows.length) {
      const tr = el('tr');
      tr.append(el('td', { colspan: '3', class: 'muted' }, 'No ratings yet.'));
      rows.push(tr);
    }
    $(id).tBodies[0].replaceChildren(...rows);
  }
}

async function main() {
  await chrome({ area: 'admin', signIn: 'required', operators: true });
  $('weeks').addEventListener('change', load);
  await load();
}

main();
