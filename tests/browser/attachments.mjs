// Attachments (issue 9) in headless Chromium through the real pages:
//   1. Ann, an approved member of Acme Corp, opens the raise form, drops a
//      file onto the attachment area, sees its progress bar reach 100% and
//      "Uploaded"; a second file over the limit (this app runs with
//      attachment_max_bytes = 200000) is refused with a clear message before
//      anything is sent;
//   2. she creates the request: its page lists the file with its size and
//      her name, and the download gives the same bytes;
//   3. operator Olga sees the file on the operators' request page.
//
// People (EDGEDESK_PEOPLE, signed in by the Rust runner, tests/e2e/browser.rs):
// olga (operator) and ann (customer). The environment is described in desk.mjs.
// Prints "N passed, M failed" and exits non-zero on failure.
import { readFile } from 'node:fs/promises';
import {
  apiOn, base, expect, run, step,
} from './desk.mjs';

const content = 'timestamp,event\n2026-11-29T08:00:00Z,vpn dropped\n'.repeat(200);
const fileName = 'vpn-log été.csv';

/** Drops `files` ([{name, text|size, type}]) onto the drop zone under `scope`. */
async function dropFiles(page, scope, files) {
  const dt = await page.evaluateHandle((list) => {
    const t = new DataTransfer();
    for (const f of list) {
      const body = f.text !== undefined ? f.text : new Uint8Array(f.size);
      t.items.add(new File([body], f.name, { type: f.type }));
    }
    return t;
  }, files);
  await page.dispatchEvent(`${scope} [data-role=dropzone]`, 'drop', { dataTransfer: dt });
}

await run(async ({ tabOf }) => {
  const ann = await tabOf('ann');
  const olga = await tabOf('olga');

  await step('setup: Ann asks to join Acme Corp and an operator approves (API)', async () => {
    await ann.goto(`${base}/`);
    await olga.goto(`${base}/`);
    const asked = await apiOn(ann, 'POST', '/api/access-requests', { company_name: 'Acme Corp' });
    await apiOn(olga, 'POST', `/api/access-requests/${encodeURIComponent(asked.id)}/approve`);
  });

  await step('a file dropped on the raise form uploads with a progress bar', async () => {
    await ann.goto(`${base}/raise?type=technical-support`);
    await ann.locator('#attachments-box [data-role=dropzone]').waitFor();
    await dropFiles(ann, '#attachments-box', [{ name: fileName, text: content, type: 'text/csv' }]);
    const item = ann.locator('#attachments-box li.upload.done');
    await item.waitFor();
    expect((await item.getAttribute('data-name')) === fileName, 'file name');
    expect(await item.locator('progress').evaluate((p) => p.value) === 100, 'progress at 100%');
    expect((await item.locator('.note').textContent()) === 'Uploaded', 'uploaded');
    const ids = JSON.parse(await ann.locator('#raise').getAttribute('data-attachment-ids'));
    expect(ids.length === 1, `ids: ${ids}`);
  });

  await step('a file over the limit is refused before it is sent', async () => {
    let sent = 0;
    const count = (r) => { if (r.url().endsWith('/api/attachments') && r.method() === 'POST') sent += 1; };
    ann.on('request', count);
    await dropFiles(ann, '#attachments-box', [{ name: 'huge.zip', size: 200001, type: 'application/zip' }]);
    const refused = ann.locator('#attachments-box li.upload.refused');
    await refused.waitFor();
    const note = await refused.locator('.note').textContent();
    expect(note.includes('Too large') && note.includes('the limit is 200 KB'), `note: ${note}`);
    ann.off('request', count);
    expect(sent === 0, `uploads sent: ${sent}`);
    await refused.getByRole('button', { name: 'Dismiss' }).click();
    await refused.waitFor({ state: 'detached' });
  });

  await step('the request page lists the file and downloads the same bytes', async () => {
    await ann.fill('#summary', 'VPN drops, log attached');
    await ann.getByRole('button', { name: 'Create' }).click();
    await ann.waitForURL(`${base}/request?key=SD-1`);
    const file = ann.locator('#files li.file');
    await file.waitFor();
    expect((await file.locator('a').textContent()) === fileName, 'listed by name');
    const meta = await file.locator('.muted').textContent();
    expect(content.length === 9800, 'the test file is 9,800 bytes');
    expect(meta.includes('9.8 KB') && meta.includes('Ann Archer'), `meta: ${meta}`);
    const [download] = await Promise.all([ann.waitForEvent('download'), file.locator('a').click()]);
    expect(download.suggestedFilename() === fileName, `saved as ${download.suggestedFilename()}`);
    const got = await readFile(await download.path(), 'utf8');
    expect(got === content, `downloaded ${got.length} bytes`);
  });

  await step('the operator sees the file on the request', async () => {
    await olga.goto(`${base}/admin/request?key=SD-1`);
    const file = olga.locator('#files li.file');
    await file.waitFor();
    expect((await file.locator('a').textContent()) === fileName, 'operator sees it');
    expect(await file.getByRole('button', { name: 'Remove' }).isVisible(), 'operators may remove');
  });
});
