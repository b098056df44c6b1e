import type { Incident, IncidentFinding, TimelineEvent } from './incident.ts';
import { html, query, safeHref, type Html } from './html.ts';
import { csrfField, when } from './layout.ts';
import { printMatcher } from '../../route/matcher.ts';

/** The incident page's HTML. */

export interface IncidentLinks {
  /** The group's Slack message, when a Slack receiver posted one. */
  slack?: string;
  /**
   * The PagerDuty dedup key, when a PagerDuty receiver has the group. The Events API v2 answers a
   * trigger with the key only (`status`, `message`, `dedup_key`), never the incident's URL or id, so
   * the page shows the key to search for in PagerDuty rather than a link.
   */
  pagerduty?: string;
}

/** Matchers for one resource: its cluster, kind, namespace and name. */
function resourceSilenceHref(f: IncidentFinding, cluster: string | undefined): string {
  const kind = f.api.split('.')[0] ?? f.api;
  const pairs: Array<[string, string]> = [
    ['cluster', cluster ?? ''],
    ['kind', kind],
    ['namespace', f.namespace],
    ['name', f.name],
  ];
  return `/ui/silences/new${query(pairs.filter(([, v]) => v !== '').map(([n, v]) => ['matcher', printMatcher({ name: n, op: '=', value: v })] as const))}`;
}

function findingBlock(f: IncidentFinding, cluster: string | undefined, canWrite: boolean): Html {
  return html`<section class="card finding" data-fingerprint="${f.fingerprint}">
<h3><span class="sev sev-${f.severity}">${f.severity}</span> <span class="mono">${f.api}</span> ${f.namespace === '' ? '' : `${f.namespace}/`}${f.name}</h3>
<p>${f.state} · ${f.status} · first seen ${when(f.firstSeen)}</p>
${f.unnotified === undefined ? '' : html`<p class="unnotified">${unnotifiedText(f.unnotified)}</p>`}
${f.detail === undefined ? '' : html`<p class="muted">${f.detail}</p>`}
${
  f.changes === undefined
    ? html`<p class="muted">No field-level change list for this finding.</p>`
    : html`<p class="muted">Changes (${f.changes.source}):</p><ul class="changes">${f.changes.lines.map((l) => html`<li class="mono">${l}</li>`)}${f.changes.omitted > 0 ? html`<li class="muted">and ${f.changes.omitted} more</li>` : ''}</ul>`
}
${f.changedBy.length === 0 ? '' : html`<ul class="changed-by">${f.changedBy.map((c) => html`<li>${c}</li>`)}</ul>`}
<p class="links">${f.links.argocd === undefined ? '' : html`<a href="${safeHref(f.links.argocd)}" rel="noreferrer">Argo CD</a>`}${f.links.commit === undefined ? '' : html`<a href="${safeHref(f.links.commit)}" rel="noreferrer">commit</a>`}
${canWrite ? html`<a href="${resourceSilenceHref(f, cluster)}">Silence this resource</a>` : ''}</p>
</section>`;
}

/** The mark of a finding the policy tracks but keeps out of notifications (issue #19's `notify_non_mesh`). */
export const unnotifiedText = (why: 'non-mesh'): string => `tracked, not notified: ${why} (notify_non_mesh is off in the policy)`;

function event(e: TimelineEvent): Html {
  return html`<li data-kind="${e.kind}">${when(e.at)} <span class="what">${e.what}</span>${e.by === undefined ? '' : html` <span class="muted">by ${e.by}</span>`}${e.detail === undefined ? '' : html`<span class="because">${e.detail}</span>`}</li>`;
}

/** Who looks and what they may do; `done` says what their last write did. */
export interface IncidentPageState {
  canWrite: boolean;
  /** A sync can be asked for here (the service has remediation wired). */
  canSync: boolean;
  csrf: string;
  done?: 'sync' | 'sync-dry-run' | 'ack';
}

const DONE: Record<NonNullable<IncidentPageState['done']>, string> = {
  sync: 'Sync requested: the remediate receiver is syncing the drifted resources (see the timeline).',
  'sync-dry-run': 'Sync requested in dry-run: the remediate receiver recorded what it would do (see the timeline).',
  ack: 'Acknowledged: a short silence was created (see the timeline).',
};

export function incidentBody(i: Incident, links: IncidentLinks, st: IncidentPageState): Html {
  const { canWrite, csrf } = st;
  const l = i.labels;
  const silenceHref = `/ui/silences/new${query(i.matchers.map((m) => ['matcher', m] as const))}`;
  return html`${st.done === undefined ? '' : html`<p class="notice" role="status">${DONE[st.done]}</p>`}
<h1>${l === undefined ? i.groupKey : html`${l.cluster} › ${l.owner.kind} ${l.owner.namespace}/${l.owner.name}`}</h1>
<p class="summary">${i.status}${i.firstSeen === undefined ? '' : html` · first seen ${when(i.firstSeen)}`}${l?.route === undefined ? '' : ` · route ${l.route}`}${l?.receiver === undefined ? '' : ` · receiver ${l.receiver}`}${l?.project ? ` · project ${l.project}` : ''}</p>
<div class="links actions">
${links.slack === undefined ? '' : html`<a href="${safeHref(links.slack)}" rel="noreferrer">Slack message</a>`}
${
  links.pagerduty === undefined
    ? ''
    : html`<span id="pagerduty-key">PagerDuty dedup key <code>${links.pagerduty}</code> <span class="muted">(no link: PagerDuty's Events API answers with the key, not the incident's address; search for the key in PagerDuty)</span></span>`
}
${canWrite ? html`<a class="button" id="silence-incident" href="${silenceHref}">Silence…</a>` : ''}
${i.ack === undefined ? '' : html`<span class="status status-acknowledged" id="ack-state">acknowledged (until ${when(i.ack.until)}, by ${i.ack.by})</span>`}
${
  canWrite && i.status === 'firing' && i.ack === undefined
    ? html`<form class="inline" method="post" action="/ui/incidents/${encodeURIComponent(i.groupKey)}/ack">${csrfField(csrf)}<button type="submit" id="ack">Acknowledge</button></form>`
    : ''
}
${
  canWrite && st.canSync && i.status === 'firing'
    ? html`<form class="inline" method="post" action="/ui/incidents/${encodeURIComponent(i.groupKey)}/sync" data-confirm="Sync the drifted resources back to Git now?">${csrfField(csrf)}<button type="submit" id="sync">Sync now</button></form>`
    : ''
}
</div>
<h2>Findings <span class="count">${i.findings.length}</span></h2>
${i.findings.length === 0 ? html`<p class="muted">The group holds no finding now (resolved and cleaned up); the timeline keeps what happened.</p>` : html`<div class="cards findings">${i.findings.map((f) => findingBlock(f, l?.cluster, canWrite))}</div>`}
<h2>Timeline</h2>
<ol class="timeline" id="timeline">${i.timeline.map(event)}</ol>`;
}
