// /forgot-username: the username is sent to the account's email address.
import { api, showStatus } from '/assets/api.js';
import { $, onSubmit } from '/assets/auth-common.js';

const form = $('forgot-form');
onSubmit(form, async (data) => {
  await api('POST', '/api/auth/username/forgot', { email: data.email });
  showStatus(form, 'If an account uses this address, its username is on its way. Check your email.');
});
