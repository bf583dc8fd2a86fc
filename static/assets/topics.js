// The portal home's topic grid: each topic opens the raise-a-request form.
import { api } from '/assets/api.js';
import { el } from '/assets/chrome.js';

export async function showTopics(box) {
  const { items } = await api('GET', '/api/request-types');
  box.replaceChildren(...items.map((t) => {
    const a = el('a', { class: 'card topic', href: `/raise?type=${encodeURIComponent(t.key)}`, 'data-topic': t.key });
    a.append(el('h3', {}, t.name), el('p', { class: 'muted' }, t.description));
    return a;
  }));
}
