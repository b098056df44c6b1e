import { html, type Html } from './html.ts';
import type { Viewer } from './access.ts';

/** The views, in the order of the navigation bar. */
const NAV = [
  ['board', 'Board', '/ui/'],
  ['silences', 'Silences', '/ui/silences'],
  ['history', 'History', '/ui/history'],
  ['sources', 'Sources', '/ui/sources'],
] as const;
export type ViewName = (typeof NAV)[number][0] | 'incident';

/** A whole page: the shell (own stylesheet and script only, no inline code), the navigation, who is looking. */
export function page(title: string, view: ViewName, viewer: Viewer, body: Html): Html {
  const role = viewer.canWrite ? 'writer' : 'read-only';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · meshdrift</title>
<link rel="stylesheet" href="/ui/static/ui.css">
<script type="module" src="/ui/static/ui.js"></script>
</head>
<body>
<header class="top">
<a class="brand" href="/ui/">meshdrift</a>
<nav>${NAV.map(([name, label, href]) => html`<a href="${href}"${name === view ? html` aria-current="page"` : ''}>${label}</a>`)}</nav>
<span class="who" data-role="${role}">${viewer.user} · ${role}</span>
</header>
<main>
${body}
</main>
</body>
</html>
`;
}

/** A page that says why nothing is shown (401, 403, 404, 400), in the same shell. */
export function problemPage(title: string, message: string, viewer: Viewer | undefined): Html {
  const who: Viewer = viewer ?? { user: 'not signed in', groups: [], via: 'anonymous', canWrite: false };
  return page(title, 'board', who, html`<h1>${title}</h1><p class="problem">${message}</p>`);
}

/** `2h 5m`, `3d 4h`, `45s`: how long ago (or how long). */
export function ago(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** An ISO time as the page shows it (UTC, to the second), in a <time> element. */
export function when(ms: number): Html {
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')}Z</time>`;
}

/** The hidden CSRF field every form that writes carries. */
export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}
