// /login: sign in with username or email. After the password, the second
// factor (or its first setup) happens on /two-factor.
import { api, resetCsrf } from '/assets/api.js';
import { $, onSubmit, param } from '/assets/auth-common.js';

/** Only same-site paths are followed after sign-in. */
function nextPath() {
  const next = param('next');
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

onSubmit($('login-form'), async (data) => {
  let res;
  try {
    res = await api('POST', '/api/auth/login', {
      login: data.login,
      password: data.password,
      remember_me: !!data.remember_me,
    });
  } catch (err) {
    if (err.code === 'account_locked' && err.details.retry_after_s) {
      const minutes = Math.ceil(err.details.retry_after_s / 60);
      err.message = `This account is locked for security. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`;
    } else if (err.status === 429) {
      const s = err.details.retry_after_s || 1;
      err.message = `Too many attempts. Wait ${s} second${s === 1 ? '' : 's'} and try again.`;
    }
    throw err;
  }
  resetCsrf();
  // The page asked for before sign-in (e.g. a mailed link) opens after the second factor too.
  const next = nextPath();
  window.location.assign(res.stage === 'full' ? next : (next === '/' ? '/two-factor' : '/two-factor?next=' + encodeURIComponent(next)));
});
