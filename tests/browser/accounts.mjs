// Accounts in headless Chromium through the real pages:
//   1. /signup: the (i) button shows the password policy, the terms open in a
//      dialog and are accepted, the form is sent -> "Check your email";
//   2. the confirmation link is read from the captured mail and opened ->
//      "Your email address is confirmed";
//   3. /login with "Keep me logged in" -> /two-factor (the second factor is
//      owed), and /api/session knows the user;
//   4. a wrong password shows the contract's message on the page.
//
// Environment (set by the Rust runner, tests/e2e/browser.rs):
//   EDGEDESK_BASE_URL   the app, e.g. http://127.0.0.1:PORT
//   EDGEDESK_MAIL_URL   GET -> JSON array of the mails the relay captured
//                       ({to, subject, text, html})
//   CHROMIUM_PATH       the browser executable (default /usr/bin/chromium)
// Prints "N passed, M failed" and exits non-zero on failure.
import { chromium } from 'playwright-core';

const base = process.env.EDGEDESK_BASE_URL;
const mailUrl = process.env.EDGEDESK_MAIL_URL;
if (!base || !mailUrl) {
  console.error('EDGEDESK_BASE_URL and EDGEDESK_MAIL_URL are required');
  process.exit(2);
}

const results = [];
async function step(name, fn) {
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

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Waits for a captured mail to `to` whose subject contains `subject`. */
async function waitForMail(to, subject, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await fetch(mailUrl);
    const mails = await res.json();
    const found = mails.find((m) => (m.to || []).includes(to) && String(m.subject).includes(subject));
    if (found) return found;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail "${subject}" to ${to} within ${timeoutMs} ms`);
}

const email = `ada.${Date.now()}@corp.example`;
const username = `ada${Date.now() % 100000}`;
const password = 'orbit-cactus-velvet-42';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
});
const page = await (await browser.newContext()).newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
// Failed responses are listed by address. Expected: 401 from /api/session while
// signed out (api.js asks it for a CSRF token), the wrong-password 401, and
// the /favicon.ico browsers ask for on their own.
const expected401 = ['/api/session', '/api/auth/login'];
page.on('response', (r) => {
  const path = new URL(r.url()).pathname;
  if (r.status() >= 400 && path !== '/favicon.ico' && !(r.status() === 401 && expected401.includes(path))) {
    pageErrors.push(`${r.status()} ${path}`);
  }
});

let failed = false;
try {
  await step('pages show the configured portal name', async () => {
    await page.goto(`${base}/signup`);
    const want = process.env.EDGEDESK_PORTAL_NAME;
    if (want) {
      await page.waitForFunction((n) => document.querySelector('[data-portal-name]').textContent === n, want);
      expect((await page.title()).includes(want), `title: ${await page.title()}`);
    }
  });

  await step('sign-up page shows the password policy and the terms dialog', async () => {
    await page.goto(`${base}/signup`);
    await page.fill('#email', email);
    await page.fill('#full_name', 'Ada Lovelace');
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('#policy-button');
    await page.waitForSelector('#policy li');
    const policy = await page.textContent('#policy');
    expect(policy.includes('12 characters'), `policy text: ${policy}`);
    // Ticking the box opens the terms; accepting them ticks it.
    await page.click('#accept');
    await page.waitForSelector('#terms-dialog[open]');
    await page.waitForFunction(() => document.getElementById('terms-text').textContent.includes('2026-01'));
    await page.click('#terms-accept');
    expect(await page.isChecked('#accept'), 'terms box ticked after accepting');
    expect(await page.inputValue('#accept_terms_version') === '2026-01', 'terms version recorded');
  });

  await step('sending the form asks to check the email', async () => {
    await page.click('#signup-submit');
    await page.waitForSelector('#done:not([hidden])');
    expect((await page.textContent('#done-email')) === email, 'the address is repeated');
  });

  let link;
  await step('a confirmation mail arrives with a link', async () => {
    const mail = await waitForMail(email, 'Confirm your');
    const m = /(https?:\/\/[^\s]+\/confirm\?token=[A-Za-z0-9_-]+)/.exec(mail.text);
    expect(m, `link in: ${mail.text}`);
    // The link points at public_base_url; the test app listens elsewhere.
    const url = new URL(m[1]);
    link = `${base}${url.pathname}${url.search}`;
  });

  await step('opening the link confirms the address', async () => {
    await page.goto(link);
    await page.waitForSelector('#ok:not([hidden])');
    expect((await page.textContent('#username')) === username, 'the username is shown');
  });

  await step('a wrong password shows the message on the page', async () => {
    await page.goto(`${base}/login`);
    await page.fill('#login', username);
    await page.fill('#password', 'not-the-password');
    await page.click('#login-submit');
    await page.waitForSelector('#login-form [data-role=error]:not([hidden])');
    const msg = await page.textContent('#login-form [data-role=error]');
    expect(msg.includes('not right'), `error shown: ${msg}`);
  });

  await step('signing in leads to the second-factor step', async () => {
    await page.fill('#login', email);
    await page.fill('#password', password);
    await page.check('#remember_me');
    await page.click('#login-submit');
    await page.waitForURL(`${base}/two-factor`);
    const session = await page.evaluate(async () => (await fetch('/api/session')).json());
    expect(session.user.username === username, `session user: ${JSON.stringify(session)}`);
    expect(session.stage === 'needs_2fa_setup', `stage: ${session.stage}`);
    const cookies = await page.context().cookies();
    const c = cookies.find((x) => x.name === 'edgedesk_session');
    expect(c && c.httpOnly && c.expires > Date.now() / 1000 + 29 * 86400, 'a 30-day HttpOnly cookie');
  });

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
