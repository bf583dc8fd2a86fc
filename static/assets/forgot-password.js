// /forgot-password: asks for a reset link. The answer is the same whether or
// not an account matches.
import { api, showStatus } from '/assets/api.js';
import { $, onSubmit } from '/assets/auth-common.js';

const form = $('forgot-form');
onSubmit(form, async (data) => {
  await api('POST', '/api/auth/password/forgot', { login: data.login });
  showStatus(form, 'If an account matches, a link to choose a new password is on its way. Check your email.');
});
