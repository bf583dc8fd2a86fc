// /confirm?token=…: confirms the address from the emailed link.
import { api } from '/assets/api.js';
import { $, param } from '/assets/auth-common.js';

async function main() {
  const token = param('token');
  try {
    if (!token) throw new Error('This address has no confirmation token. Open the link from the email again.');
    const res = await api('POST', '/api/auth/confirm', { token });
    $('username').textContent = res.username;
    $('working').hidden = true;
    $('ok').hidden = false;
  } catch (err) {
    $('failed-message').textContent = err.message;
    $('working').hidden = true;
    $('failed').hidden = false;
  }
}

main();
