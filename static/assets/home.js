// Home page: sign-in links for visitors; the access request for customers
// without approved company access; the request topics for everyone else.
import { chrome } from '/assets/chrome.js';
import { showAccess } from '/assets/access.js';

async function main() {
  const session = await chrome({ area: 'portal' });
  if (session && session.stage !== 'full') {
    // A second factor is still owed or not set up yet.
    window.location.replace('/two-factor');
    return;
  }
  if (!session) return;
  document.getElementById('greeting').textContent = `Hello, ${session.user.full_name}.`;
  document.getElementById('cta').hidden = true;
  const operator = session.user.role !== 'customer';
  if (!operator && session.user.access !== 'approved') {
    await showAccess(session);
    return;
  }
  document.getElementById('welcome').hidden = true;
  document.getElementById('desk').hidden = false;
  const topics = await import('/assets/topics.js').catch(() => null);
  if (topics) await topics.showTopics(document.getElementById('topics'));
}

main();
