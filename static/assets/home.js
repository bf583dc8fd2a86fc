// Home page: greets a signed-in user, shows sign-in links otherwise.
import { api, loadSession, resetCsrf } from '/assets/api.js';

async function main() {
  const session = await loadSession();
  const signedIn = session && session.stage === 'full';
  document.getElementById('nav-login').hidden = !!signedIn;
  document.getElementById('nav-signup').hidden = !!signedIn;
  document.getElementById('nav-profile').hidden = !signedIn;
  document.getElementById('nav-logout').hidden = !session;
  if (session && session.stage !== 'full') {
    // A second factor is still owed or not set up yet.
    window.location.replace('/two-factor');
    return;
  }
  if (signedIn) {
    document.getElementById('greeting').textContent = `Hello, ${session.user.full_name}.`;
    document.getElementById('cta').hidden = true;
  }
  document.getElementById('nav-logout').addEventListener('click', async () => {
    await api('POST', '/api/auth/logout');
    resetCsrf();
    window.location.assign('/');
  });
}

main();
