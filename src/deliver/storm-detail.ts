import { Capability, type SendResult } from './notifier.ts';
import type { Severity } from '../model/severity.ts';
import type { StormMember, StormRecord } from './storm.ts';
import { argocdAppUrl } from './links.ts';

// The detail of a drift storm under its summary (Slack: thread replies): which groups, apps and
// resources it holds, bounded, with "and N more" and the API link where every member is listed.

/** Replies at most, and member lines per reply: 75 members named, the rest counted. */
export const STORM_DETAIL_PARTS = 3;
export const STORM_DETAIL_PER_PART = 25;

export interface StormDetailLine {
  groupKey: string;
  cluster: string;
  /** The owner (an Argo CD Application, a Flux Kustomization or HelmRelease). */
  kind: string;
  namespace: string;
  name: string;
  firing: number;
  critical: number;
  severity: Severity;
  /** The app in Argo CD's UI, when ARGOCD_URL is set and the owner is an Argo CD Application. */
  link?: string;
}

/** One reply of a storm's detail. */
export interface StormDetail {
  /** The summary's group key (`storm/<receiver>/<id>`): the message the reply goes under. */
  summaryGroupKey: string;
  stormId: string;
  /** 1-based, of `parts`. */
  part: number;
  parts: number;
  /** Member groups firing now (all of them). */
  total: number;
  lines: StormDetailLine[];
  /** Members not named in any part (said in the last part, with `href`). */
  more: number;
  href: string;
}

/** Tells one reply of a storm's detail under its summary (the Slack receiver). Never throws. */
export interface StormDetailTeller {
  tellStormDetail(detail: StormDetail): Promise<SendResult>;
}

/** The capability of telling {@link StormDetail}, declared by the Slack receiver. */
export const STORM_DETAIL = new Capability<StormDetailTeller>('storm-detail');

/** A member's owner back from its key (`cluster/kind/namespace/name`, storm.ts memberOf). */
function ownerOf(m: StormMember): { kind: string; namespace: string; name: string } {
  const parts = m.owner.split('/');
  if (parts.length >= 4 && parts[0] === m.cluster) return { kind: parts[1] ?? '', namespace: parts[2] ?? '', name: parts.slice(3).join('/') };
  return { kind: '', namespace: '', name: m.owner };
}

/** The storm's detail in replies: its members, most critical first, bounded; [] when it has none. */
export function stormDetailParts(r: StormRecord, href: string, argocdUrl?: string): StormDetail[] {
  const sorted = [...r.members].sort(
    ([ak, a], [bk, b]) => b.critical - a.critical || b.firing - a.firing || a.owner.localeCompare(b.owner) || ak.localeCompare(bk),
  );
  const named = sorted.slice(0, STORM_DETAIL_PARTS * STORM_DETAIL_PER_PART);
  const parts = Math.ceil(named.length / STORM_DETAIL_PER_PART);
  return Array.from({ length: parts }, (_, i) => ({
    summaryGroupKey: `storm/${r.receiver}/${r.id}`,
    stormId: r.id,
    part: i + 1,
    parts,
    total: sorted.length,
    more: sorted.length - named.length,
    href,
    lines: named.slice(i * STORM_DETAIL_PER_PART, (i + 1) * STORM_DETAIL_PER_PART).map(([groupKey, m]) => {
      const o = ownerOf(m);
      const link = m.tool === 'argocd' ? argocdAppUrl(argocdUrl, o) : undefined;
      return { groupKey, cluster: m.cluster, ...o, firing: m.firing, critical: m.critical, severity: m.severity, ...(link === undefined ? {} : { link }) };
    }),
  }));
}
