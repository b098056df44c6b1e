import type { BoardRow, BoardView, StormLine } from './board.ts';
import { BOARD_ONLY_LABELS } from './board.ts';
import { html, query, type Html } from './html.ts';
import { ago } from './layout.ts';
import { printMatcher } from '../../route/matcher.ts';

/** The board's HTML: filter bar with counts, storms as one line each, the findings grouped cluster › owner › resource, pages. */

const incidentHref = (groupKey: string): string => `/ui/incidents/${encodeURIComponent(groupKey)}`;

/** The link to the board with these filters (and the other query parts kept). */
function boardHref(filters: readonly string[], extra: ReadonlyArray<readonly [string, string]> = []): string {
  return `/ui/${query([...filters.map((f) => ['filter', f] as const), ...extra])}`;
}

/** The filters as silence matchers: the board-only labels (status, receiver) are not on findings. */
export function silenceHref(filters: readonly string[]): string {
  const onFindings = filters.filter((f) => !BOARD_ONLY_LABELS.some((l) => f.startsWith(`${l}=`) || f.startsWith(`${l}!`)));
  return `/ui/silences/new${query(onFindings.map((f) => ['matcher', f] as const))}`;
}

function filterBar(v: BoardView, canWrite: boolean): Html {
  const chips = v.filters.map((f) => {
    const rest = v.filters.filter((g) => g !== f);
    return html`<li class="chip"><code>${f}</code> <a href="${boardHref(rest)}" aria-label="remove filter ${f}">×</a></li>`;
  });
  const counts = v.counts.map(
    (c) => html`<details${c.label === 'status' || c.label === 'severity' || c.label === 'cluster' ? html` open` : ''}>
<summary>${c.label}</summary>
<ul>${c.values.map(
      (x) =>
        html`<li><a href="${boardHref([...v.filters, printMatcher({ name: c.label, op: '=', value: x.value })])}">${x.value === '' ? '(empty)' : x.value}</a> <span class="count">${x.count}</span></li>`,
    )}${c.more > 0 ? html`<li class="muted">and ${c.more} more values</li>` : ''}</ul>
</details>`,
  );
  return html`<section class="filters" aria-label="filters">
<form class="add" method="get" action="/ui/">
${v.filters.map((f) => html`<input type="hidden" name="filter" value="${f}">`)}
<label for="filter-input" class="muted">Filter</label>
<input id="filter-input" type="text" name="filter" placeholder='severity="critical" or namespace=~"pay.*"' autocomplete="off">
<button type="submit">Add</button>
${v.filters.length > 0 && canWrite ? html`<a class="button" id="silence-filter" href="${silenceHref(v.filters)}">Silence this filter</a>` : ''}
${v.filters.length > 0 ? html`<a href="/ui/">Clear</a>` : ''}
</form>
${v.filters.length > 0 ? html`<ul class="chips" aria-label="active filters">${chips}</ul>` : ''}
<div class="counts">${counts}</div>
</section>`;
}

function stormLine(s: StormLine, filters: readonly string[]): Html {
  return html`<details class="storm" data-storm="${s.id}">
<summary>Storm: ${s.headline} <span class="muted">(${s.groups} groups, ${s.findings} findings, receiver ${s.receiver})</span></summary>
<ul>${s.sample.map((g) => html`<li><a href="${incidentHref(g.groupKey)}">${g.cluster} › ${g.owner}</a></li>`)}</ul>
<a href="${boardHref(filters, [['storm', s.id]])}">Show all ${s.groups} groups of this storm</a>
</details>`;
}

function statusCell(r: BoardRow): Html {
  // A non-mesh finding the policy keeps out of notifications is marked so whatever else holds it (silenced, inhibited).
  const mark =
    r.unnotified !== undefined && r.status !== 'not-notified' ? html`<span class="because unnotified">tracked, not notified: ${r.unnotified}</span>` : '';
  return html`<span class="status status-${r.status}">${r.status.replaceAll('-', ' ')}</span>${r.because === undefined ? '' : html`<span class="because">${r.because}</span>`}${mark}`;
}

function rows(v: BoardView, now: number): Html[] {
  const out: Html[] = [];
  let cluster: string | undefined;
  let group: string | undefined;
  for (const r of v.rows) {
    if (r.cluster !== cluster) {
      cluster = r.cluster;
      group = undefined;
      out.push(html`<tr class="cluster"><th colspan="7">${r.cluster}</th></tr>`);
    }
    if (r.groupKey !== group) {
      group = r.groupKey;
      out.push(
        html`<tr class="owner"><th colspan="7"><a href="${incidentHref(r.groupKey)}">${r.owner.kind} ${r.owner.namespace}/${r.owner.name}</a> <span class="muted">${r.tool}${r.project === '' ? '' : ` · project ${r.project}`}</span></th></tr>`,
      );
    }
    out.push(html`<tr data-fingerprint="${r.fingerprint}">
<td class="res"><span class="mono">${r.api}</span><br>${r.resource.namespace === '' ? '' : `${r.resource.namespace}/`}${r.resource.name}</td>
<td><span class="sev sev-${r.severity}">${r.severity}</span></td>
<td>${r.state}</td>
<td>${statusCell(r)}</td>
<td title="${new Date(r.firstSeen).toISOString()}">${ago(now - r.firstSeen)}</td>
<td class="hide-narrow">${r.route ?? ''}</td>
<td class="hide-narrow">${r.receivers.join(', ')}</td>
</tr>`);
  }
  return out;
}

function pager(v: BoardView): Html {
  const extra: Array<readonly [string, string]> = [...(v.storm === undefined ? [] : [['storm', v.storm] as const]), ['limit', String(v.limit)]];
  const at = (p: number) => boardHref(v.filters, [...extra, ['page', String(p)]]);
  return html`<nav class="pager" aria-label="pages">
${v.page > 1 ? html`<a href="${at(v.page - 1)}" rel="prev">← previous</a>` : ''}
<span>page ${v.page} of ${v.pages}</span>
${v.page < v.pages ? html`<a href="${at(v.page + 1)}" rel="next">next →</a>` : ''}
</nav>`;
}

/** The board's body. */
export function boardBody(v: BoardView, now: number, canWrite: boolean): Html {
  const shown = v.rows.length;
  return html`<h1>Drift now</h1>
<p class="summary" id="board-summary">${v.matched} of ${v.total} findings${v.filters.length > 0 ? ' match the filters' : ''}${v.storm === undefined ? '' : html` · storm <code>${v.storm}</code> <a href="${boardHref(v.filters)}">close</a>`}${shown < v.matched ? ` · ${shown} on this page` : ''}</p>
${v.truncated === undefined ? '' : html`<p class="problem" role="alert">Only the ${v.truncated} most recently started alert groups are read (MESHDRIFT_UI_MAX_GROUPS): the counts and rows leave the others out.</p>`}
${filterBar(v, canWrite)}
${v.storms.map((s) => stormLine(s, v.filters))}
${
  v.rows.length === 0
    ? html`<p class="notice">${v.total === 0 ? 'Nothing is drifted.' : 'No finding matches the filters.'}</p>`
    : html`<div class="table-wrap"><table id="board">
<thead><tr><th>Resource</th><th>Severity</th><th>Drift</th><th>State</th><th>Age</th><th class="hide-narrow">Route</th><th class="hide-narrow">Receivers</th></tr></thead>
<tbody>${rows(v, now)}</tbody>
</table></div>`
}
${v.pages > 1 ? pager(v) : ''}`;
}
