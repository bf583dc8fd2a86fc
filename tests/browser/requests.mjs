// Requests (issue 8) in headless Chromium through the real pages:
//   1. Ann, an approved member of Acme Corp, picks a topic on the home page
//      ("Welcome! Select a topic to create a request."), fills the summary and
//      description, shares it with her organization, creates it and lands on
//      its page: SD-1, Open;
//   2. operator Olga finds it in the queue on /admin/, opens it, replies, and
//      answers it with a resolution;
//   3. Ann sees the reply, the status Answered and the resolution, rates it
//      Good and sees her rating (Olga sees it too);
//   4. the footer shows the desk's working hours.
//
// People (EDGEDESK_PEOPLE, signed in by the Rust runner, tests/e2e/browser.rs):
// olga (operator) and ann (customer). Ann's company access is set up through
// the API the access pages use (access.mjs tests those pages). The
// environment is described in desk.mjs.
// Prints "N passed, M failed" and exits non-zero on failure.
import {
  apiOn, base, expect, people, run, step, waitForMail,
} from './desk.mjs';

const summary = 'VPN drops every hour';
const description = 'Since Monday the VPN disconnects every hour.\nReconnecting works.';
const reply = 'Could you send us the time of the last disconnection?';
const resolution = 'The VPN profile was renewed';
const hoursText = 'Monday to Friday, 08:00 to 17:00 (CET/CEST)';

await run(async ({ tabOf }) => {
  const ann = await tabOf('ann');
  const olga = await tabOf('olga');

  await step('setup: Ann asks to join Acme Corp and an operator approves (API)', async () => {
    await ann.goto(`${base}/`);
    await olga.goto(`${base}/`);
    const asked = await apiOn(ann, 'POST', '/api/access-requests', { company_name: 'Acme Corp' });
    await apiOn(olga, 'POST', `/api/access-requests/${encodeURIComponent(asked.id)}/approve`);
    const s = await apiOn(ann, 'GET', '/api/session');
    expect(s.user.access === 'approved', `access: ${s.user.access}`);
  });

  let topic;
  await step('the home page offers the topics', async () => {
    await ann.goto(`${base}/`);
    await ann.getByRole('heading', { name: 'Welcome! Select a topic to create a request.' }).waitFor();
    const topics = ann.locator('#topics a.topic');
    await topics.first().waitFor();
    expect((await topics.count()) === 7, `topics: ${await topics.count()}`);
    topic = ann.locator('#topics a.topic[data-topic=technical-support]');
    expect((await topic.locator('h3').textContent()) === 'Technical Support', 'topic name');
  });

  await step('picking a topic opens the form under that topic', async () => {
    await topic.click();
    await ann.waitForURL(`${base}/raise?type=technical-support`);
    await ann.locator('#title', { hasText: 'Technical Support' }).waitFor();
    expect((await ann.textContent('#topic-name')) === 'Technical Support', 'breadcrumb');
  });

  await step('summary, description and "Share with my organization", then Create opens the request', async () => {
    await ann.fill('#summary', summary);
    await ann.fill('#description', description);
    const share = ann.locator('#share-option');
    expect(await share.isVisible(), 'the share option is offered to a member');
    const label = (await share.textContent()).trim();
    expect(label === 'Share with Acme Corp', `share option: ${label}`);
    await share.locator('input[name=visibility]').check();
    expect(await ann.isChecked('input[name=visibility][value=organization]'), 'shared');
    await ann.getByRole('button', { name: 'Create' }).click();
    await ann.waitForURL(`${base}/request?key=SD-1`);
    await ann.locator('#request').waitFor({ state: 'visible' });
    expect((await ann.textContent('#key')) === 'SD-1', `key: ${await ann.textContent('#key')}`);
    expect((await ann.textContent('#summary')) === summary, 'summary');
    expect((await ann.textContent('#description')) === description, 'description');
    expect((await ann.textContent('#badge .badge')) === 'Open', `status: ${await ann.textContent('#badge')}`);
    expect((await ann.textContent('#topic')) === 'Technical Support', 'topic');
    const shared = await ann.textContent('#shared-with');
    expect(shared.includes('Acme Corp'), `shared with: ${shared}`);
    expect(await ann.isHidden('#rating-card'), 'nothing to rate yet');
  });

  await step('the operator finds it in the queue and opens it', async () => {
    await olga.goto(`${base}/admin/`);
    const row = olga.locator('#queue tbody tr[data-key="SD-1"]');
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells[1] === summary && cells[2] === 'Open' && cells[3] === 'Acme Corp', `row: ${cells.join(' | ')}`);
    await row.getByRole('link', { name: 'SD-1' }).click();
    await olga.waitForURL(`${base}/admin/request?key=SD-1`);
    await olga.locator('#request').waitFor({ state: 'visible' });
    expect((await olga.textContent('#summary')) === summary, 'summary');
    expect((await olga.textContent('#reporter')) === people.ann.full_name, 'reporter');
    expect((await olga.textContent('#visibility')) === 'Shared with the organization', 'visibility');
  });

  await step('the operator replies', async () => {
    await olga.fill('#body', reply);
    await olga.click('#reply-button');
    await olga.locator('#activity li[data-kind=comment] .body', { hasText: reply }).waitFor();
    expect((await olga.inputValue('#body')) === '', 'the reply box is emptied');
  });

  await step('the operator answers it with a resolution', async () => {
    await olga.selectOption('#to', 'answered');
    await olga.fill('#resolution-input', resolution);
    await olga.getByRole('button', { name: 'Change status' }).click();
    await olga.locator('#badge .badge[data-status=answered]').waitFor();
    expect((await olga.textContent('#resolution')) === resolution, 'resolution shown');
  });

  await step('the customer sees the reply, the status Answered and the resolution', async () => {
    await ann.reload();
    await ann.locator('#request').waitFor({ state: 'visible' });
    expect((await ann.textContent('#badge .badge')) === 'Answered', `status: ${await ann.textContent('#badge')}`);
    expect((await ann.textContent('#resolution')) === resolution, 'resolution');
    const comment = ann.locator('#activity li[data-kind=comment]', { hasText: reply });
    await comment.waitFor();
    const meta = await comment.locator('.meta').textContent();
    expect(meta.startsWith(people.olga.full_name), `reply by: ${meta}`);
    await waitForMail(people.ann.email, `[SD-1] ${summary}`, { text: reply });
  });

  await step('the customer rates it Good and sees the rating', async () => {
    await ann.locator('#rating-card').waitFor({ state: 'visible' });
    await ann.getByLabel('Good', { exact: true }).check();
    await ann.getByRole('button', { name: 'Rate' }).click();
    await ann.locator('#rated').waitFor({ state: 'visible' });
    expect((await ann.textContent('#rated-text')) === 'Good', `rating: ${await ann.textContent('#rated-text')}`);
    expect(await ann.isHidden('#rating-card'), 'rated once');
    await olga.reload();
    await olga.locator('#rating', { hasText: '4/5' }).waitFor();
  });

  await step('the customer\'s requests list shows it answered', async () => {
    await ann.goto(`${base}/requests?status=any`);
    const row = ann.locator('#list tbody tr[data-key="SD-1"]');
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells[1] === summary && cells[2] === 'Answered', `row: ${cells.join(' | ')}`);
  });

  await step('the footer shows the working hours', async () => {
    const hours = (await ann.textContent('footer .hours')) || '';
    expect(hours.includes(hoursText), `footer: ${hours}`);
    await olga.goto(`${base}/admin/`);
    await olga.locator('footer .hours', { hasText: hoursText }).waitFor();
  });
});
