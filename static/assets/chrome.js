// Shared page chrome for portal and admin pages: the header with navigation
// (by role and sign-in state) and the footer with the desk's contact block and
// working hours. A page holds only its own content:
//
//   <header class="top" data-chrome></header> <main>…</main> <footer data-chrome></footer>
//   const session = await chrome({ area: 'portal', signIn: 'required' });
//
// Every value is set with textContent: nothing from the API becomes markup.
import { api, loadSession, resetCsrf } from '/assets/api.js';

const DEFAULT_NAME = 'EdgeDesk Service Desk';
let health = null;

/** /api/health once per page: portal name, contact, working hours. */
export async function desk() {
  if (!health) {
    try {
      const res = await fetch('/api/health', { headers: { Accept: 'application/json' } });
      health = res.ok ? await res.json() : {};
    } catch { health = {}; }
  }
  return health;
}

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function link(href, text, current) {
  const a = el('a', { href }, text);
  if (current) a.setAttribute('aria-current', 'page');
  return a;
}

/** The console's pages after the queue, in navigation order. */
const ADMIN_PAGES = [
  ['/admin/access', 'Access'],
  ['/admin/organizations', 'Organizations'],
  ['/admin/people', 'People'],
  ['/admin/topics', 'Topics'],
  ['/admin/outbox', 'Outbox'],
  ['/admin/audit', 'Audit'],
  ['/admin/reports', 'Reports'],
  ['/admin/settings', 'Settings'],
];

/** Adds the queue's counts to its navigation link ("Queue 4 · mine 1"),
 * after the page is drawn: a failure leaves the plain link. */
function queueCounts(a) {
  api('GET', '/api/agent/counts').then((c) => {
    const waiting = (c.open || 0) + (c.in_progress || 0);
    const badge = el('span', { class: 'badge', 'data-nav-count': 'waiting' }, String(waiting));
    const mine = el('span', { class: 'badge muted', 'data-nav-count': 'mine' }, `mine ${c.assigned_to_me || 0}`);
    a.setAttribute('aria-label', `Queue: ${waiting} open or in progress, ${c.assigned_to_me || 0} assigned to me`);
    a.append(' ', badge, ' ', mine);
  }).catch(() => {});
}

function isOperator(s) { return s && (s.user.role === 'operator' || s.user.role === 'admin'); }

/**
 * Renders the chrome and returns the session (or null when signed out).
 * signIn: 'required' sends signed-out visitors to /login and half-signed-in
 * ones to /two-factor; 'optional' leaves them on the page.
 * operators: true sends customers to the portal home.
 */
export async function chrome({ area = 'portal', signIn = 'optional', operators = false } = {}) {
  const [session, info] = await Promise.all([loadSession(), desk()]);
  const name = info.portal_name || DEFAULT_NAME;
  const here = window.location.pathname.replace(/\.html$/, '');
  if (signIn === 'required' && !session) {
    window.location.replace('/login?next=' + encodeURIComponent(here + window.location.search));
    return new Promise(() => {});
  }
  if (session && session.stage !== 'full' && signIn === 'required') {
    window.location.replace('/two-factor');
    return new Promise(() => {});
  }
  const full = session && session.stage === 'full';
  if (operators && !(full && isOperator(session))) {
    window.location.replace('/');
    return new Promise(() => {});
  }

  const header = document.querySelector('header[data-chrome]');
  if (header) {
    header.replaceChildren();
    const brand = el('a', { class: 'brand', href: area === 'admin' ? '/admin/' : '/' },
      area === 'admin' ? `${name} · Operator console` : name);
    const nav = el('nav', { 'aria-label': 'Main' });
    if (full) {
      if (area === 'admin') {
        const queue = link('/admin/', 'Queue', here === '/admin/' || here === '/admin/index');
        nav.append(queue);
        for (const [href, text] of ADMIN_PAGES) nav.append(link(href, text, here === href));
        nav.append(link('/', 'Portal'));
        queueCounts(queue);
      } else {
        nav.append(link('/', 'Home', here === '/'));
        if (session.user.access === 'approved' || isOperator(session)) {
          nav.append(link('/requests', 'Requests', here === '/requests'));
        }
        if (session.user.organization && session.user.access === 'approved') {
          nav.append(link('/organization', session.user.organization.name, here === '/organization'));
        }
        if (isOperator(session)) nav.append(link('/admin/', 'Operator console'));
      }
      nav.append(link('/profile', 'Profile', here === '/profile'), link('/security', 'Security', here === '/security'));
    } else if (!session) {
      nav.append(link('/login', 'Sign in'), link('/signup', 'Sign up'));
    }
    if (session) {
      const out = el('button', { class: 'secondary', type: 'button', id: 'nav-logout' }, 'Sign out');
      out.addEventListener('click', async () => {
        await api('POST', '/api/auth/logout');
        resetCsrf();
        window.location.assign('/');
      });
      nav.append(out);
    }
    // Keyboard users skip the (long, in the console) navigation.
    const main = document.querySelector('main');
    if (main && !main.id) main.id = 'main';
    const skip = el('a', { class: 'skip', href: `#${main ? main.id : 'main'}` }, 'Skip to content');
    header.append(skip, brand, nav);
  }

  const footer = document.querySelector('footer[data-chrome]');
  if (footer) {
    footer.replaceChildren();
    if (info.desk_contact) footer.append(el('p', { class: 'contact' }, info.desk_contact));
    if (info.working_hours_text) footer.append(el('p', { class: 'hours' }, `Working hours: ${info.working_hours_text}`));
    footer.append(el('p', {}, `${name} · Powered by EdgeDesk`));
  }
  document.querySelectorAll('[data-portal-name]').forEach((e) => { e.textContent = name; });
  if (document.title.includes(DEFAULT_NAME)) document.title = document.title.replace(DEFAULT_NAME, name);
  return session;
}

/** Formats an RFC 3339 time for people, in their own time zone. */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export { el };
