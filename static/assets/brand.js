// Shows the configured portal name (Spin variable `portal_name`, reported by
// /api/health) wherever a page marks it with [data-portal-name], and in the title.
const DEFAULT_NAME = 'EdgeDesk Service Desk';

async function applyPortalName() {
  try {
    const res = await fetch('/api/health', { headers: { Accept: 'application/json' } });
    if (!res.ok) return;
    const name = (await res.json()).portal_name;
    if (!name || name === DEFAULT_NAME) return;
    document.querySelectorAll('[data-portal-name]').forEach((el) => { el.textContent = name; });
    document.title = document.title.replace(DEFAULT_NAME, name).replace(/EdgeDesk$/, name);
  } catch {
    // The default name stays: a page must work without it.
  }
}

applyPortalName();
