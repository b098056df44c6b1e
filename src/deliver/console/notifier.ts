import type { Writable } from 'node:stream';
import type { Notification } from '../../model/alert-group.ts';
import type { Notifier } from '../notifier.ts';
import { attributionText, changesLeftOut, changeText, kindWithGroup } from '../evidence.ts';
import { findingLinks, type LinkContext, silenceUrl } from '../links.ts';
import { plainLine } from '../text.ts';
import { safeEscalation } from '../escalation-render.ts';

// A terminal shows what JSON.stringify leaves alone (bidi, zero-width): text from the cluster goes
// through the one sanitiser (src/deliver/text.ts) first.
const MAX_VALUE = 1024;
const text = (s: string): string => plainLine(s, MAX_VALUE);

/** A compact, stable JSON line per notification: what a person or `jq` reads. */
export function renderConsoleLine(n: Notification, links?: LinkContext): string {
  const finding = (f: Notification['firing'][number]) => {
    const l = findingLinks(f, links);
    return {
      severity: f.severity,
      state: f.state,
      category: f.category,
      mesh: text(f.mesh),
      kind: text(kindWithGroup(f.resource)),
      namespace: text(f.resource.namespace),
      name: text(f.resource.name),
      ...(f.detail ? { detail: text(f.detail) } : {}),
      ...(f.revision ? { revision: text(f.revision) } : {}),
      ...(f.changes
        ? { changes: f.changes.changes.map((c) => text(changeText(c))), changes_omitted: changesLeftOut(f.changes, f.changes.changes.length) }
        : {}),
      ...(f.attribution && f.attribution.length > 0 ? { changed_by: f.attribution.map((a) => text(attributionText(a))) } : {}),
      ...(l.argocd ? { argocd_url: l.argocd } : {}),
      ...(l.commit ? { commit_url: l.commit } : {}),
      ...(f.annotations ? { annotations: Object.fromEntries(Object.entries(f.annotations).map(([k, v]) => [text(k), text(v)])) } : {}),
    };
  };
  const silence = n.status === 'firing' ? silenceUrl(links?.publicUrl, n.labels) : undefined;
  return JSON.stringify({
    receiver: 'console',
    status: n.status,
    reason: n.reason,
    severity: n.severity,
    cluster: text(n.labels.cluster),
    owner: text(`${n.labels.owner.kind}/${n.labels.owner.namespace ? `${n.labels.owner.namespace}/` : ''}${n.labels.owner.name}`),
    project: text(n.labels.project),
    group: n.groupKey,
    seq: n.seq,
    at: new Date(n.at).toISOString(),
    ...(silence === undefined ? {} : { silence_url: silence }),
    firing: n.firing.map(finding),
    resolved: n.resolved.map(finding),
    ...(n.escalation === undefined ? {} : { escalation: safeEscalation(n.escalation) }),
  });
}

/** The embedded default receiver: JSON lines on stdout (or any stream). */
export function createConsoleNotifier(out: Writable = process.stdout, links?: LinkContext): Notifier {
  return {
    type: 'console',
    send: (n) =>
      new Promise((resolve) => {
        out.write(`${renderConsoleLine(n, links)}\n`, (err) =>
          resolve(err ? { ok: false, retryable: true, reason: `console write failed: ${err.message}` } : { ok: true }),
        );
      }),
  };
}
