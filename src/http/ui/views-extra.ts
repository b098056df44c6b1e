import type { DeadLetter } from '../../queue/dead-letters.ts';
import type { LastSignal } from '../../track/last-signal.ts';
import type { HistoryView } from './history.ts';
import { html, query, type Html } from './html.ts';
import { ago, csrfField, when } from './layout.ts';

/** The History and Sources pages' HTML. */

const incidentHref = (groupKey: string): string => `/ui/incidents/${encodeURIComponent(groupKey)}`;
const dur = (ms: number | undefined): string => (ms === undefined ? '—' : ago(ms));

export function historyBody(v: HistoryView): Html {
  return html`<h1>History</h1>
<form method="get" action="/ui/history" class="filters add">
<label for="q" class="muted">Search</label>
<input id="q" type="text" name="q" value="${v.q}" placeholder="cluster, app, resource or author">
<label for="days" class="muted">Days</label>
<input id="days" type="number" name="days" min="1" max="30" value="${v.days}">
<button type="submit">Show</button>
</form>
<div class="cards">
<div class="card"><div class="big" id="resolved-count">${v.resolved}</div>incidents resolved in ${v.days} days</div>
<div class="card"><div class="big">${dur(v.mttdMs)}</div>median time to notify (MTTD)</div>
<div class="card"><div class="big">${dur(v.ttrMs)}</div>median time to resolve</div>
</div>
${v.oldest === undefined ? '' : html`<p class="muted">The stored history reaches back to ${when(v.oldest)} (its newest 1,000 notifications, 30 days at most).</p>`}
<h2>Resolved incidents${v.q === '' ? '' : html` matching <code>${v.q}</code>`}</h2>
${
  v.incidents.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<div class="table-wrap"><table id="history"><thead><tr><th>Incident</th><th>Severity</th><th class="hide-narrow">Resources</th><th>Time to resolve</th><th class="hide-narrow">Resolved</th></tr></thead><tbody>
${v.incidents.map(
  (
    i,
  ) => html`<tr><td><a href="${incidentHref(i.groupKey)}">${i.cluster} › ${i.owner}</a>${i.authors.length === 0 ? '' : html`<span class="because">by ${i.authors.join(', ')}</span>`}</td>
<td><span class="sev sev-${i.severity}">${i.severity}</span></td>
<td class="hide-narrow">${i.resources.slice(0, 5).join(', ')}${i.resources.length > 5 ? ` and ${i.resources.length - 5} more` : ''}</td>
<td>${dur(i.resolvedAt === undefined ? undefined : i.resolvedAt - i.firstSeen)}</td>
<td class="hide-narrow">${i.resolvedAt === undefined ? '' : when(i.resolvedAt)}</td></tr>`,
)}</tbody></table></div>`
}
<h2>Drift frequency by app</h2>
${counts(v.byApp, 'by-app')}
<h2>Drift frequency by author</h2>
${v.byAuthor.length === 0 ? html`<p class="muted">No author known (authors come from the mesh watch and the admission recorder).</p>` : counts(v.byAuthor, 'by-author')}`;
}

function counts(list: HistoryView['byApp'], id: string): Html {
  if (list.length === 0) return html`<p class="muted">None.</p>`;
  return html`<ol id="${id}">${list.map((x) => html`<li><a href="/ui/history${query([['q', x.key.split(' › ').pop() ?? x.key]])}">${x.key}</a> <span class="count">${x.count}</span></li>`)}</ol>`;
}

/** What the Sources page shows: each source's last signal per cluster, the watches, the poll, the audit cycle. */
export interface SourcesView {
  lastSignals: LastSignal[];
  watches?: {
    ready: boolean;
    clusters: Array<{ name: string; state: string; since?: number }>;
    watches: Array<{ cluster: string; kind: string; namespace: string; state: string; since: number; restarts: number; lastError?: string }>;
  };
  poll?: { ready: boolean; since?: number; lastError?: string; lastSuccessAt?: number; consecutiveFailures: number };
  auditIntervalMs: number;
  /** The newest dead letters (deliveries that gave up), when this replica reads the queues. */
  deadLetters?: DeadLetter[];
  now: number;
}

function deadLetters(list: readonly DeadLetter[], canWrite: boolean, csrf: string): Html {
  if (list.length === 0) return html`<p class="muted">None: every delivery got through or is still being retried.</p>`;
  return html`<div class="table-wrap"><table id="dead-letters"><thead><tr><th>Delivery</th><th>Receiver</th><th>Why</th><th class="hide-narrow">Failed</th><th></th></tr></thead><tbody>
${list.map(
  (
    d,
  ) => html`<tr><td>${d.groupKey === null ? d.id : html`<a href="/ui/incidents/${encodeURIComponent(d.groupKey)}">${d.groupKey}</a>`}${d.seq === null ? '' : ` #${d.seq}`}</td>
<td>${d.receiver ?? d.queue}</td><td>${d.reason}<span class="because">${d.attempts} attempts</span></td><td class="hide-narrow">${d.failedAt ?? ''}</td>
<td>${canWrite ? html`<form class="inline" method="post" action="/ui/deadletters/${encodeURIComponent(d.id)}/retry">${csrfField(csrf)}<button type="submit">Retry</button></form>` : ''}</td></tr>`,
)}</tbody></table></div>`;
}

export function sourcesBody(v: SourcesView, st: { canWrite: boolean; csrf: string; done?: 'retried' }): Html {
  const { now } = v;
  return html`${st.done === 'retried' ? html`<p class="notice" role="status">Dead letter put back in its queue.</p>` : ''}
<h1>Sources</h1>
<h2>Last signal per source and cluster</h2>
${
  v.lastSignals.length === 0
    ? html`<p class="notice">No signal recorded yet (in the last 30 days).</p>`
    : html`<div class="table-wrap"><table id="last-signals"><thead><tr><th>Source</th><th>Cluster</th><th>Last signal</th><th class="hide-narrow">At</th></tr></thead><tbody>
${v.lastSignals.map((s) => html`<tr><td>${s.source}</td><td>${s.cluster}</td><td>${ago(now - s.at)} ago</td><td class="hide-narrow">${when(s.at)}</td></tr>`)}</tbody></table></div>`
}
<h2>Kubernetes watches</h2>
${
  v.watches === undefined
    ? html`<p class="muted">Not run by this replica (MESHDRIFT_CLUSTERS unset, or another replica leads).</p>`
    : html`<p>${v.watches.ready ? 'ready' : 'NOT ready'} · audit re-list every ${ago(v.auditIntervalMs)}</p>
<div class="table-wrap"><table id="watches"><thead><tr><th>Cluster</th><th>Kind</th><th>State</th><th>Since</th><th class="hide-narrow">Restarts</th><th class="hide-narrow">Last error</th></tr></thead><tbody>
${v.watches.watches.map(
  (w) =>
    html`<tr><td>${w.cluster}</td><td>${w.kind}${w.namespace === 'all' ? '' : ` (${w.namespace})`}</td><td>${w.state}</td><td>${ago(now - w.since)}</td><td class="hide-narrow">${w.restarts}</td><td class="hide-narrow">${w.lastError ?? ''}</td></tr>`,
)}</tbody></table></div>`
}
<h2>Argo CD API poll</h2>
${
  v.poll === undefined
    ? html`<p class="muted">Off (ARGOCD_TOKEN unset or ARGOCD_POLL_INTERVAL=0).</p>`
    : html`<p>${v.poll.ready ? 'ready' : 'NOT ready'} · last success ${v.poll.lastSuccessAt === undefined ? 'never' : html`${ago(now - v.poll.lastSuccessAt)} ago`} · ${v.poll.consecutiveFailures} failures in a row${v.poll.lastError === undefined ? '' : html`<span class="because">${v.poll.lastError}</span>`}</p>`
}
<p class="muted">The audit re-list runs every ${ago(v.auditIntervalMs)} where the watches run: no lost event hides drift longer than that.</p>
${v.deadLetters === undefined ? '' : html`<h2>Dead letters <span class="count">${v.deadLetters.length}</span></h2>${deadLetters(v.deadLetters, st.canWrite, st.csrf)}`}`;
}
