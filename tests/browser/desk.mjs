// Shared by the desk's flows (access.mjs, requests.mjs): steps, captured mail,
// and browser tabs signed in as the people the Rust runner made.
//
// Environment (set by the Rust runner, tests/e2e/browser.rs, run_desk_script):
//   EDGEDESK_BASE_URL    the app, e.g. http://127.0.0.1:PORT
//   EDGEDESK_MAIL_URL    GET -> JSON array of the captured mails ({to, subject, text, html})
//   EDGEDESK_PEOPLE      {username: {session, email, full_name, role}}: people
//                        signed up, confirmed and signed in by the runner (the
//                        second factor passed), with their session cookie
//   EDGEDESK_PORTAL_NAME the configured portal name
//   CHROMIUM_PATH        the browser executable (default /usr/bin/chromium)
import { chromium } from 'playwright-core';

export const base = process.env.EDGEDESK_BASE_URL;
const mailUrl = process.env.EDGEDESK_MAIL_URL;
export const people = JSON.parse(process.env.EDGEDESK_PEOPLE || '{}');
export const portalName = process.env.EDGEDESK_PORTAL_NAME || 'EdgeDesk Service Desk';
if (!base || !mailUrl || Object.keys(people).length === 0) {
  console.error('EDGEDESK_BASE_URL, EDGEDESK_MAIL_URL and EDGEDESK_PEOPLE are required');
  process.exit(2);
}

const results = [];
export async function step(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok - ${name}`);
  } catch (e) {
    results.push([name, false]);
    console.log(`not ok - ${name}\n  ${String((e && e.stack) || e).split('\n').join('\n  ')}`);
    throw e;
  }
}

export function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Waits for a captured mail to `to` whose subject contains `subject` (and text `text`). */
export async function waitForMail(to, subject, { text = '', timeoutMs = 15000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await fetch(mailUrl);
    const mails = await res.json();
    const found = mails.find((m) => (m.to || []).includes(to) && String(m.subject).includes(subject)
      && String(m.text).includes(text));
    if (found) return found;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail "${subject}" (${text}) to ${to} within ${timeoutMs} ms`);
}

/** The link labelled `label` in a mail's text ("Label:\nURL"), moved onto the test app. */
export function mailLink(mail, label) {
  const m = new RegExp(`^${label}:\\n(https?://\\S+)$`, 'm').exec(mail.text);
  expect(m, `no "${label}" link in: ${mail.text}`);
  // The link points at public_base_url; the test app listens elsewhere.
  const url = new URL(m[1]);
  return `${base}${url.pathname}${url.search}`;
}

/** Calls the API from `page` the way the pages do (api.js, with the CSRF token). */
export function apiOn(page, method, path, body) {
  return page.evaluate(async ([m, p, b]) => {
    const { api } = await import('/assets/api.js');
    return api(m, p, b === null ? undefined : b);
  }, [method, path, body === undefined ? null : body]);
}

/**
 * Runs `flow(desk)` in one browser, where `desk.tabOf(username)` opens a tab
 * signed in as that person and `desk.expectFailure('400 /api/…')` allows one
 * failed response; then checks that no page raised a script error or an
 * unexpected failed request (the /favicon.ico browsers ask for is expected).
 * Prints "N passed, M failed" and exits non-zero on failure.
 */
export async function run(flow) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
  const pageErrors = [];
  const expected = new Set();
  const tabOf = async (username) => {
    const who = people[username];
    expect(who, `the runner made no ${username}`);
    const context = await browser.newContext();
    await context.addCookies([{ name: 'edgedesk_session', value: who.session, url: base }]);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${username}: ${e}`));
    page.on('response', (r) => {
      const path = new URL(r.url()).pathname;
      if (r.status() >= 400 && path !== '/favicon.ico' && !expected.has(`${r.status()} ${path}`)) {
        pageErrors.push(`${username}: ${r.status()} ${path}`);
      }
    });
    return page;
  };
  let failed = false;
  try {
    await flow({ tabOf, expectFailure: (s) => expected.add(s) });
    await step('no page raised a script error or an unexpected failed request', async () => {
      expect(pageErrors.length === 0, `errors: ${pageErrors.join(' | ')}`);
    });
  } catch {
    failed = true;
  } finally {
    await browser.close();
  }
  const passed = results.filter(([, ok]) => ok).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
  process.exit(failed || passed !== results.length ? 1 : 0);
}
