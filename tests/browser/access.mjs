// Company access (issue 7) in headless Chromium through the real pages:
//   1. Ann, signed in without access, sees "Request access to <portal name>"
//      on the home page, types her company and sees her request waiting for
//      the operators;
//   2. operator Olga approves it on /admin/access, and Ann's home page shows
//      the topics;
//   3. Bob asks to join the same company (typed differently); Ann opens the
//      mailed "View request" link and approves on the access-request page;
//   4. Cyd asks too; Ann's mailed "Approve" link opens a confirmation page that
//      approves nothing by itself (the API still says pending), its button
//      approves, and the spent link no longer works.
//
// People (EDGEDESK_PEOPLE, signed in by the Rust runner, tests/e2e/browser.rs):
// olga (operator), ann, bob and cyd (customers without access). The
// environment is described in desk.mjs.
// Prints "N passed, M failed" and exits non-zero on failure.
import {
  apiOn, base, expect, mailLink, people, portalName, run, step, waitForMail,
} from './desk.mjs';

await run(async ({ tabOf, expectFailure }) => {
  const ann = await tabOf('ann');
  const olga = await tabOf('olga');
  const bob = await tabOf('bob');
  const cyd = await tabOf('cyd');

  await step('a customer without access is offered "Request access to <portal name>"', async () => {
    await ann.goto(`${base}/`);
    await ann.getByRole('heading', { name: `Request access to ${portalName}` }).waitFor();
    expect(await ann.isVisible('#access-form-card'), 'the access form is shown');
    expect(await ann.isHidden('#desk'), 'no topics before access');
    expect((await ann.textContent('#greeting')) === `Hello, ${people.ann.full_name}.`, 'greeting');
  });

  await step('typing the company name sends the request and shows it waiting for the operators', async () => {
    await ann.fill('#company_name', 'Acme Corp');
    await ann.getByRole('button', { name: 'Request access' }).click();
    await ann.locator('#access-status-card').waitFor({ state: 'visible' });
    const text = await ann.textContent('#access-status-text');
    expect(text === 'You asked to join Acme Corp. Our operators will decide.', `status: ${text}`);
    const history = await ann.textContent('#access-history li[data-status=pending]');
    expect(history.startsWith(`Requested by ${people.ann.full_name}`), `history: ${history}`);
    expect(await ann.isHidden('#access-form-card'), 'the form is gone');
    const s = await apiOn(ann, 'GET', '/api/session');
    expect(s.user.access === 'pending', `access: ${s.user.access}`);
    await waitForMail(people.ann.email, 'We received your request to join Acme Corp');
  });

  await step('the request page linked from the home page shows it pending', async () => {
    await ann.click('#access-link');
    await ann.waitForURL(/\/access-request\?id=/);
    await ann.locator('#request').waitFor({ state: 'visible' });
    expect((await ann.textContent('#title')) === `${people.ann.full_name} asks to join Acme Corp`, 'title');
    expect((await ann.getAttribute('#badge .badge', 'data-status')) === 'pending', 'pending badge');
    expect((await ann.textContent('#approver')) === 'Our operators', 'decided by the operators');
    expect(await ann.isHidden('#decide'), 'the requester cannot decide');
  });

  await step('an operator approves it on /admin/access', async () => {
    await olga.goto(`${base}/admin/access`);
    const row = olga.locator('#list tbody tr', { hasText: people.ann.full_name });
    await row.waitFor();
    const company = await row.locator('td').nth(1).textContent();
    expect(company === 'Acme Corp · new company', `company cell: ${company}`);
    await row.locator('button[data-action=approve]').click();
    await row.waitFor({ state: 'detached' });
    await olga.locator('#empty').waitFor({ state: 'visible' });
    await olga.selectOption('#status', 'approved');
    const done = olga.locator('#list tbody tr', { hasText: people.ann.full_name });
    await done.locator('.badge[data-status=approved]').waitFor();
    await waitForMail(people.ann.email, 'Your access to Acme Corp is approved');
  });

  await step('the approved customer sees the topics and her organization', async () => {
    await ann.goto(`${base}/`);
    await ann.getByRole('heading', { name: 'Welcome! Select a topic to create a request.' }).waitFor();
    expect(await ann.isHidden('#access-form-card'), 'no access form any more');
    await ann.locator('header nav a[href="/organization"]', { hasText: 'Acme Corp' }).waitFor();
  });

  let bobRequest;
  await step('a second customer asks to join the same company and waits for a colleague', async () => {
    await bob.goto(`${base}/`);
    await bob.getByRole('heading', { name: `Request access to ${portalName}` }).waitFor();
    await bob.fill('#company_name', 'acme corp');
    await bob.getByRole('button', { name: 'Request access' }).click();
    await bob.locator('#access-status-card').waitFor({ state: 'visible' });
    const text = await bob.textContent('#access-status-text');
    expect(text === 'You asked to join Acme Corp. A colleague who is already a member, or one of our operators, will decide.',
      `status: ${text}`);
    const mine = await apiOn(bob, 'GET', '/api/access-requests/mine');
    bobRequest = mine.items[0];
    expect(bobRequest.status === 'pending' && bobRequest.approver === 'organization', JSON.stringify(bobRequest));
  });

  await step('the first customer opens the mailed "View request" link and approves', async () => {
    const mail = await waitForMail(people.ann.email, `${people.bob.full_name} asks to join Acme Corp`);
    const link = mailLink(mail, 'View request');
    expect(link.endsWith(`/access-request?id=${bobRequest.id}`), `link: ${link}`);
    await ann.goto(link);
    await ann.locator('#request').waitFor({ state: 'visible' });
    expect((await ann.textContent('#title')) === `${people.bob.full_name} asks to join Acme Corp`, 'title');
    const company = await ann.textContent('#company');
    expect(company === 'Acme Corp (typed as “acme corp”)', `company: ${company}`);
    expect((await ann.getAttribute('#badge .badge', 'data-status')) === 'pending', 'pending badge');
    await ann.locator('#decide').waitFor({ state: 'visible' });
    await ann.click('#approve');
    await ann.locator('#decide [data-role=status]', { hasText: 'Approved. Everyone concerned is told by email.' }).waitFor();
    expect((await ann.getAttribute('#badge .badge', 'data-status')) === 'approved', 'approved badge');
    const history = await ann.textContent('#history li[data-status=approved]');
    expect(history.startsWith(`Approved by ${people.ann.full_name}`), `history: ${history}`);
    await waitForMail(people.bob.email, 'Your access to Acme Corp is approved');
  });

  await step('the second customer now sees the topics', async () => {
    await bob.goto(`${base}/`);
    await bob.getByRole('heading', { name: 'Welcome! Select a topic to create a request.' }).waitFor();
    const s = await apiOn(bob, 'GET', '/api/session');
    expect(s.user.access === 'approved' && s.user.organization.name === 'Acme Corp', JSON.stringify(s.user));
  });

  let approveLink;
  await step('a third customer asks to join the same company', async () => {
    await cyd.goto(`${base}/`);
    await cyd.getByRole('heading', { name: `Request access to ${portalName}` }).waitFor();
    await cyd.fill('#company_name', 'Acme Corp');
    await cyd.getByRole('button', { name: 'Request access' }).click();
    await cyd.locator('#access-status-card').waitFor({ state: 'visible' });
    const mail = await waitForMail(people.ann.email, `${people.cyd.full_name} asks to join Acme Corp`);
    approveLink = mailLink(mail, 'Approve');
    expect(/\/approve-access\?token=[A-Za-z0-9_-]+$/.test(approveLink), `link: ${approveLink}`);
  });

  await step('the mailed "Approve" link opens a confirmation that approves nothing by itself', async () => {
    await ann.goto(approveLink);
    await ann.locator('#confirm').waitFor({ state: 'visible' });
    const question = await ann.textContent('#question');
    expect(question === `${people.cyd.full_name} (${people.cyd.email}) asks to join Acme Corp.`, `question: ${question}`);
    expect((await ann.textContent('#for-whom')) === `You are approving as ${people.ann.full_name}.`, 'approver named');
    const mine = await apiOn(cyd, 'GET', '/api/access-requests/mine');
    expect(mine.items[0].status === 'pending', `after opening the link: ${mine.items[0].status}`);
    const s = await apiOn(cyd, 'GET', '/api/session');
    expect(s.user.access === 'pending', `access after opening the link: ${s.user.access}`);
  });

  await step('the confirmation button approves', async () => {
    await ann.getByRole('button', { name: 'Approve' }).click();
    await ann.locator('#done').waitFor({ state: 'visible' });
    const text = await ann.textContent('#done-text');
    expect(text.startsWith(`${people.cyd.full_name} is now a member of Acme Corp.`), `done: ${text}`);
    const mine = await apiOn(cyd, 'GET', '/api/access-requests/mine');
    expect(mine.items[0].status === 'approved', `status: ${mine.items[0].status}`);
    expect(mine.items[0].decided_by.full_name === people.ann.full_name, 'decided by Ann');
    await waitForMail(people.cyd.email, 'Your access to Acme Corp is approved');
  });

  await step('the spent "Approve" link no longer works', async () => {
    expectFailure('400 /api/access-requests/approve-link');
    await ann.goto(approveLink);
    await ann.locator('#invalid').waitFor({ state: 'visible' });
    const text = await ann.textContent('#invalid-text');
    expect(text.includes('may have been used or have expired'), `invalid: ${text}`);
    expect(await ann.isHidden('#confirm'), 'no confirmation');
  });

  await step('the organization page lists the three members', async () => {
    await ann.goto(`${base}/organization`);
    await ann.locator('#members tbody tr').nth(2).waitFor();
    const names = await ann.locator('#members tbody tr td:first-child').allTextContents();
    for (const u of ['ann', 'bob', 'cyd']) {
      expect(names.includes(people[u].full_name), `members: ${names.join(', ')}`);
    }
  });
});
