// The operator console (issue 10) in headless Chromium through the real pages:
//   1. the console's navigation lists every page, with the queue's counts, and
//      a keyboard user's first Tab reaches "Skip to content";
//   2. Ann locks herself out (three wrong second-factor answers); admin Olga
//      finds her on /admin/people, sees "Locked", presses Unlock, and Ann can
//      sign in again; the audit page shows the unlock;
//   3. Olga edits a topic on /admin/topics and hides another: customers see
//      the new name and no longer the hidden topic;
//   4. after a request was raised, answered and rated, /admin/reports draws
//      the weekly chart as inline SVG and shows the same numbers in tables.
//
// People (EDGEDESK_PEOPLE, signed in by the Rust runner, tests/e2e/browser.rs):
// olga (admin) and ann (customer). The environment is described in desk.mjs.
// Prints "N passed, M failed" and exits non-zero on failure.
import {
  apiOn, base, expect, run, step,
} from './desk.mjs';

// The password the Rust runner gives everyone (tests/src/desk.rs PASSWORD).
const PASSWORD = 'orbit-cactus-velvet-42';

await run(async ({ tabOf, expectFailure }) => {
  const olga = await tabOf('olga');
  const ann = await tabOf('ann');
  let annId;

  await step('setup: Ann has Acme access, raised a request Olga answered, and rated it (API)', async () => {
    await ann.goto(`${base}/`);
    await olga.goto(`${base}/`);
    const asked = await apiOn(ann, 'POST', '/api/access-requests', { company_name: 'Acme Corp' });
    await apiOn(olga, 'POST', `/api/access-requests/${encodeURIComponent(asked.id)}/approve`);
    const t = await apiOn(ann, 'POST', '/api/requests', {
      request_type: 'finance-support', summary: 'Invoice copy', visibility: 'private',
    });
    await apiOn(olga, 'POST', `/api/agent/requests/${t.key}/comments`, { body: 'Sent again.' });
    await apiOn(olga, 'POST', `/api/agent/requests/${t.key}/transition`, { to: 'answered', resolution: 'Sent.' });
    await apiOn(ann, 'POST', `/api/requests/${t.key}/rating`, { score: 5 });
    annId = (await apiOn(ann, 'GET', '/api/session')).user.id;
  });

  await step('the console navigation lists every page, with the queue counts, keyboard first', async () => {
    await olga.goto(`${base}/admin/`);
    const nav = olga.locator('header nav');
    for (const name of ['Queue', 'Access', 'Organizations', 'People', 'Topics', 'Outbox', 'Audit', 'Reports', 'Settings']) {
      await nav.getByRole('link', { name: new RegExp(`^${name}`) }).waitFor();
    }
    await nav.locator('[data-nav-count=waiting]').waitFor();
    await olga.keyboard.press('Tab');
    const focused = await olga.evaluate(() => document.activeElement && document.activeElement.textContent);
    expect(focused === 'Skip to content', `first Tab focused ${focused}`);
  });

  await step('setup: three wrong second-factor answers lock Ann out (423)', async () => {
    await apiOn(ann, 'POST', '/api/2fa/backup-codes');
    const fresh = await tabOf('ann');
    await fresh.context().clearCookies();
    // Signed out, the home page asks for the session and is told 401.
    expectFailure('401 /api/session');
    await fresh.goto(`${base}/`);
    const s = await apiOn(fresh, 'POST', '/api/auth/login', { login: 'ann', password: PASSWORD });
    expect(s.stage === 'password_ok', `stage ${s.stage}`);
    expectFailure('401 /api/2fa/verify');
    expectFailure('423 /api/2fa/verify');
    expectFailure('423 /api/auth/login');
    const statuses = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push(await fresh.evaluate(async () => {
        const { api } = await import('/assets/api.js');
        try { await api('POST', '/api/2fa/verify', { method: 'backup_codes', code: 'AAAAA-BBBBB' }); return 200; }
        catch (e) { return e.status; }
      }));
    }
    expect(statuses.join() === '401,401,423', `answers ${statuses}`);
    const again = await fresh.evaluate(async (pw) => {
      const r = await fetch('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'ann', password: pw }) });
      return r.status;
    }, PASSWORD);
    expect(again === 423, `sign-in while locked: ${again}`);
    await fresh.context().close();
  });

  await step('People: Olga finds Ann, sees her locked and unlocks her', async () => {
    await olga.getByRole('link', { name: 'People' }).click();
    await olga.waitForURL(/\/admin\/people/);
    await olga.fill('input[name=q]', 'acme');
    await olga.getByRole('button', { name: 'Search' }).click();
    const row = olga.locator('#people tr[data-user=ann]');
    await row.waitFor();
    expect((await row.locator('[data-state]').textContent()) === 'Locked', 'listed as locked');
    await row.getByRole('link', { name: 'Ann Archer' }).click();
    await olga.locator('#person-title', { hasText: 'Ann Archer (ann)' }).waitFor();
    expect((await olga.textContent('#facts')).includes('backup_codes (primary)'), 'methods shown');
    await olga.getByRole('button', { name: 'Unlock' }).click();
    await olga.locator('#actions [data-role=status]', { hasText: 'Unlocked.' }).waitFor();
    expect((await olga.textContent('#facts')).includes('Active'), 'now active');
    await olga.locator('#people tr[data-user=ann] [data-state]', { hasText: 'Active' }).waitFor();
  });

  await step('Ann can sign in again once unlocked', async () => {
    const s = await apiOn(ann, 'POST', '/api/auth/login', { login: 'ann', password: PASSWORD });
    expect(s.stage === 'password_ok', `stage after sign-in: ${s.stage}`);
  });

  await step('the audit page lists the lockout and the unlock', async () => {
    await olga.goto(`${base}/admin/audit?target=${encodeURIComponent(`user:${annId}`)}`);
    await olga.locator('#audit tr[data-action="user.unlock"]').waitFor();
    await olga.locator('#audit tr[data-action="auth.account_locked"]').waitFor();
    const unlock = await olga.textContent('#audit tr[data-action="user.unlock"]');
    expect(unlock.includes('olga'), `unlock row: ${unlock}`);
  });

  await step('Topics: Olga renames a topic and hides another; customers see the change', async () => {
    await olga.goto(`${base}/admin/topics`);
    const row = olga.locator('#topics tr[data-topic=finance-support]');
    await row.getByRole('button', { name: 'Edit' }).click();
    await olga.fill('#t-name', 'Finance and Billing');
    await olga.getByRole('button', { name: 'Save' }).click();
    await olga.locator('#topic [data-role=status]', { hasText: 'Saved.' }).waitFor();
    await olga.locator('#topics tr[data-topic=finance-support]', { hasText: 'Finance and Billing' }).waitFor();
    await olga.locator('#topics tr[data-topic=contestation]').getByRole('button', { name: 'Hide' }).click();
    await olga.locator('#topics tr[data-topic=contestation]', { hasText: 'Hidden' }).waitFor();
    const types = await apiOn(ann, 'GET', '/api/request-types');
    const names = types.items.map((t) => t.name);
    expect(names.includes('Finance and Billing') && !names.includes('Contestation'), `topics: ${names}`);
  });

  await step('Reports: the weekly chart is inline SVG and the numbers are in tables', async () => {
    await olga.goto(`${base}/admin/reports`);
    await olga.locator('#chart svg rect').first().waitFor({ state: 'attached' });
    // Two bars (opened, resolved) of this week have a height; empty weeks none.
    const drawn = await olga.locator('#chart svg rect:not([height="0"])').count();
    expect(drawn === 2 + 2, `bars drawn: ${drawn} (2 data bars + 2 legend swatches)`);
    const weeks = await olga.locator('#weekly tbody tr').count();
    expect(weeks === 12, `weeks: ${weeks}`);
    const last = olga.locator('#weekly tbody tr').last();
    expect((await last.locator('td').nth(1).textContent()) === '1', 'opened this week');
    expect((await last.locator('td').nth(2).textContent()) === '1', 'resolved this week');
    const first = olga.locator('#clocks tr[data-clock="First response"] td').first();
    expect((await first.textContent()) === '1', 'one first response');
    await olga.locator('#by-topic tr[data-label="Finance and Billing"]', { hasText: '5.00' }).waitFor();
    const csv = await olga.getAttribute('#csv', 'href');
    expect(csv.includes('format=csv'), `csv link ${csv}`);
  });
});
