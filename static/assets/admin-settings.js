// Operators: the portal's settings (Spin variables), read-only, with where to
// change each. The API never lists secret variables.
import { api } from '/assets/api.js';
import { chrome, el } from '/assets/chrome.js';

async function main() {
  await chrome({ area: 'admin', signIn: 'required', operators: true });
  const res = await api('GET', '/api/admin/settings');
  document.querySelector('#settings tbody').replaceChildren(...res.items.map((s) => {
    const tr = el('tr', { 'data-setting': s.name });
    const name = el('td');
    name.append(el('code', {}, s.name));
    tr.append(name, el('td', {}, s.value), el('td', {}, s.meaning), el('td', { class: 'muted' }, s.change));
    return tr;
  }));
}

main();
