// Two-factor in headless Chromium through the real pages, with the browser's
// virtual authenticator (CDP WebAuthn.addVirtualAuthenticator):
//   1. first sign-in: /two-factor "Let's configure your second factor" ->
//      register the platform authenticator (WebAuthn) as primary -> backup codes
//      (15 shown, "I've saved them") -> "Skip" to the portal;
//   2. sign out, sign in again: the challenge asks for WebAuthn, the virtual
//      authenticator signs, "Remember me on this device" -> portal;
//   3. the sign counter moved, and /security lists the method and the device.
//
// Environment (set by the Rust runner):
//   EDGEDESK_BASE_URL   e.g. http://localhost:PORT (WebAuthn needs a domain, not an
//                       IP; the app's public_base_url must be this same origin)
//   EDGEDESK_LOGIN / EDGEDESK_PASSWORD  a confirmed account without a second factor
//   CHROMIUM_PATH       the browser executable (default: playwright's lookup)
// Prints "N passed, M failed" and exits non-zero on failure.
import { chromium } from 'playwright-core';

const base = process.env.EDGEDESK_BASE_URL;
const login = process.env.EDGEDESK_LOGIN;
const password = process.env.EDGEDESK_PASSWORD;
if (!base || !login || !password) {
  console.error('EDGEDESK_BASE_URL, EDGEDESK_LOGIN and EDGEDESK_PASSWORD are required');
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
    console.log(`not ok - ${name}\n  ${String(e && e.stack || e).split('\n').join('\n  ')}`);
    throw e;
  }
}

function expect(cond, msg) { if (!cond) throw new Error(msg); }

const browser = await chromium.launch({
  headless: true,
  executablePath: process.env.CHROMIUM_PATH || undefined,
  args: ['--no-sandbox'],
});
let failed = false;
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`  page error: ${e.message}`));
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  // Signs in through the API the login page uses; returns the login answer.
  const signIn = async () => {
    await page.goto(`${base}/`);
    return page.evaluate(async ([l, p]) => {
      const { api, resetCsrf } = await import('/assets/api.js');
      resetCsrf();
      const r = await api('POST', '/api/auth/login', { login: l, password: p });
      resetCsrf();
      return r;
    }, [login, password]);
  };

  await step('first sign-in asks to configure a second factor', async () => {
    const r = await signIn();
    expect(r.stage === 'needs_2fa_setup', `stage ${r.stage}`);
    await page.goto(`${base}/two-factor`);
    await page.getByText("Let's configure your second factor").waitFor();
  });

  await step('WebAuthn registers as the primary method with the virtual authenticator', async () => {
    await page.click('#primary-choices [data-method=webauthn]');
    await page.fill('#wa-label', 'Virtual authenticator');
    await page.getByRole('button', { name: 'Register this device or key' }).click();
    await page.locator('#backup').waitFor({ state: 'visible' });
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials.length === 1, `credentials: ${credentials.length}`);
  });

  await step('backup codes are shown once, then Skip goes to the portal', async () => {
    await page.click('#backup-choices [data-method=backup_codes]');
    await page.getByRole('button', { name: 'Create backup codes' }).click();
    const codes = page.locator('[data-role=backup-codes] li');
    await codes.first().waitFor();
    expect(await codes.count() === 15, 'fifteen codes');
    await page.getByRole('button', { name: "I've saved them" }).click();
    await page.locator('#finished').waitFor({ state: 'visible' });
    await page.click('#skip');
    await page.waitForURL(`${base}/`);
  });

  await step('sign-in asks for the security key and the authenticator signs', async () => {
    await page.evaluate(async () => {
      const { api, resetCsrf } = await import('/assets/api.js');
      await api('POST', '/api/auth/logout');
      resetCsrf();
    });
    const r = await signIn();
    expect(r.stage === 'password_ok', `stage ${r.stage}`);
    await page.goto(`${base}/two-factor`);
    await page.locator('#challenge form[data-method=webauthn]').waitFor();
    await page.check('#remember-device');
    await page.getByRole('button', { name: 'Use my security key or device' }).click();
    await page.waitForURL(`${base}/`);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials[0].signCount >= 1, `signCount ${credentials[0].signCount}`);
  });

  await step('settings list the method and the trusted device', async () => {
    await page.goto(`${base}/security`);
    await page.locator('.method[data-method=webauthn] .badge', { hasText: 'Primary' }).waitFor();
    await page.locator('[data-role=codes-left]', { hasText: '15 of 15' }).waitFor();
    await page.locator('#devices tr').first().waitFor();
    expect(await page.locator('#devices tr').count() === 1, 'one trusted device');
  });
} catch {
  failed = true;
} finally {
  await browser.close();
}
const passed = results.filter(([, ok]) => ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(failed ? 1 : 0);
