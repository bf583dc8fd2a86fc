// Helpers shared by the account pages (sign-up, sign-in, recovery, profile).
import { api, showError, showStatus, formData } from '/assets/api.js';

export const $ = (id) => document.getElementById(id);

/** Wires a form: disables its button while `action(data)` runs, shows errors. */
export function onSubmit(form, action) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    showError(form, null);
    showStatus(form, '');
    try {
      await action(formData(form));
    } catch (err) {
      showError(form, err);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

/** Fills an element with the password policy (GET /api/auth/password-policy). */
export async function loadPolicy(box) {
  const policy = await api('GET', '/api/auth/password-policy');
  const list = document.createElement('ul');
  for (const rule of policy.rules) {
    const li = document.createElement('li');
    li.textContent = rule;
    list.append(li);
  }
  const intro = document.createElement('strong');
  intro.textContent = 'Password rules';
  box.replaceChildren(intro, list);
  return policy;
}

/** The (i) button beside a password field toggles the policy box. */
export function policyToggle(button, box) {
  let loaded = false;
  button.addEventListener('click', async () => {
    const open = box.hidden;
    box.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open && !loaded) {
      try { await loadPolicy(box); loaded = true; } catch { box.textContent = 'The password rules could not be loaded.'; }
    }
  });
}

/** A query parameter of the current address. */
export function param(name) {
  return new URLSearchParams(window.location.search).get(name) || '';
}
