// Working-hours clock: how much of the desk's working time (the Spin variable
// `working_hours`, reported by /api/health) lies between two instants, with
// the time zone's daylight-saving rules (the browser's time zone database).

/** The zone's UTC offset in minutes at `ms` (e.g. 60 for CET, 120 for CEST). */
function offsetMinutes(ms, timeZone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ms));
  const v = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+v.year, +v.month - 1, +v.day, +v.hour % 24, +v.minute, +v.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

/** The instant of local wall time y-m-d hh:mm in the zone. */
function zonedInstant(y, m, d, minutes, timeZone) {
  const guess = Date.UTC(y, m - 1, d, 0, minutes);
  const first = guess - offsetMinutes(guess, timeZone) * 60000;
  return guess - offsetMinutes(first, timeZone) * 60000;
}

/** The local calendar date (and ISO weekday) of an instant in the zone. */
function localDate(ms, timeZone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short',
  }).formatToParts(new Date(ms));
  const v = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  const iso = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 }[v.weekday];
  return { y: +v.year, m: +v.month, d: +v.day, weekday: iso };
}

const toMinutes = (hhmm) => { const [h, m] = hhmm.split(':').map(Number); return h * 60 + m; };

/** Working milliseconds between two instants (Date, ms or ISO string). */
export function workingMs(from, to, hours) {
  const a = new Date(from).getTime();
  const b = new Date(to).getTime();
  if (!(b > a) || !hours) return 0;
  const tz = hours.time_zone;
  const start = toMinutes(hours.start);
  const end = toMinutes(hours.end);
  let total = 0;
  let { y, m, d } = localDate(a, tz);
  for (let i = 0; i < 1100; i += 1) {
    const noon = Date.UTC(y, m - 1, d, 12);
    const day = localDate(zonedInstant(y, m, d, 12 * 60, tz), tz);
    const open = zonedInstant(y, m, d, start, tz);
    if (open > b) break;
    if (hours.days.includes(day.weekday)) {
      const close = zonedInstant(y, m, d, end, tz);
      total += Math.max(0, Math.min(close, b) - Math.max(open, a));
    }
    const next = new Date(noon + 86400000);
    y = next.getUTCFullYear(); m = next.getUTCMonth() + 1; d = next.getUTCDate();
  }
  return total;
}

/** "1 h 30 min", "2 d 3 h", "5 min". */
export function duration(ms) {
  const min = Math.floor(ms / 60000);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h${min % 60 ? ` ${min % 60} min` : ''}`;
  return `${Math.floor(h / 24)} d${h % 24 ? ` ${h % 24} h` : ''}`;
}
