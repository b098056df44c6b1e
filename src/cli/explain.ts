import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { createCatalog } from '../classify/catalog.ts';
import { classify, defaultPolicy, type ClassifyPolicy } from '../classify/classify.ts';
import { parseGitHosts } from '../config/git-hosts.ts';
import { formatPolicyError, loadPolicyFile } from '../config/load.ts';
import { attributionText, attributionView, changeListView, changesLeftOut, changeText, kindWithGroup, moreChanges } from '../deliver/evidence.ts';
import { findingLinks, type LinkContext } from '../deliver/links.ts';
import { plainLine } from '../deliver/text.ts';
import type { Finding } from '../model/finding.ts';
import { DRIFT_STATES, type DriftState, type ResourceRef, type Signal } from '../model/signal.ts';
import { applicationSchema, applicationToSignal } from '../sources/argocd/application.ts';
import { argocdWebhookSchema } from '../sources/argocd/webhook.ts';
import { fluxRevisionOf, parseFluxEvent } from '../sources/flux/event.ts';
import { interpretFluxEvent } from '../sources/flux/normalize.ts';
import { watchStateOf } from '../sources/mesh/cluster.ts';
import { firstSight } from '../sources/mesh/evidence.ts';
import { DEFAULT_MESH_WATCH_SETTINGS } from '../sources/mesh/settings.ts';
import { ownerOfObject, watchStatesSignal } from '../sources/mesh/signals.ts';
import { slimMeshObject } from '../sources/mesh/slim.ts';

const USAGE = 'usage: meshdrift explain <app.json|webhook-body.json|flux-event.json|mesh-object.json> [--policy <policy.yaml>] [--json]\n';

class InputError extends Error {
  override readonly name = 'InputError';
}

export interface ExplainedInput {
  signal: Signal | null;
  /** Why the input yields no signal (a Flux heartbeat, an unrelated object), or notes about it. */
  notes: string[];
  /** A mesh object: what a finding about it would be in each drift state (its "if it drifts" table). */
  meshObject?: { base: Omit<Signal, 'completeness' | 'resources'>; resource: ResourceRef; states?: readonly DriftState[] };
}

/** The states a finding about one object can take (Unreachable is about a source, not an object). */
const WHAT_IF_STATES = DRIFT_STATES.filter((s) => s !== 'Unreachable');
/** Those Argo CD and Flux report; the others come from the mesh watch, which watches only the catalog's kinds. */
const GITOPS_STATES: readonly DriftState[] = ['Modified', 'Missing', 'Extraneous', 'Unhealthy', 'Corrected', 'ApplyFailed'];

/** The API group and kind of a Kubernetes object (`apiVersion: group/version`; `v1` is the core group). */
function apiRefOf(input: object): { group: string; kind: string } | null {
  const { apiVersion, kind } = input as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return null;
  const slash = apiVersion.lastIndexOf('/');
  return { group: slash === -1 ? '' : apiVersion.slice(0, slash), kind };
}

const ONE_OBJECT_NOTE =
  'a single object has no history: an edit outside GitOps (Modified, Corrected) needs the mesh watch to see the write; this explains what the object shows alone (not in effect, shadow drift, unmanaged), with the default ownership settings';

/** A manifest as written (no uid: never applied) gets one, so that it is read as the watch would read it applied. */
function withUid(input: object): { object: object; manifest: boolean } {
  const meta = (input as { metadata?: unknown }).metadata;
  if (meta === null || typeof meta !== 'object' || 'uid' in meta) return { object: input, manifest: false };
  return { object: { ...input, metadata: { ...meta, uid: 'manifest' } }, manifest: true };
}

/**
 * A mesh object of the catalog (`kubectl get -o json`, or a manifest as written in Git): the
 * watch-only state its status shows (not in effect, shadow drift, unmanaged), if any, and, for the
 * "if it drifts" table, the signal a drift of it would come in. Null for a kind the catalog does not know.
 */
function meshObjectSignal(input: object, cluster: string, now: number): ExplainedInput | null {
  const ref = apiRefOf(input);
  if (ref === null || createCatalog().lookup(ref.group, ref.kind) === undefined) return null;
  const settings = DEFAULT_MESH_WATCH_SETTINGS;
  const { object, manifest } = withUid(input);
  const slim = slimMeshObject(object, ref, settings.ownership);
  if (!slim.ok) throw new InputError(`not a mesh object: ${slim.error}`);
  const owner = ownerOfObject(slim.object);
  const meshObject = {
    base: { source: 'mesh-watch' as const, cluster, owner, project: '', destination: {}, observedAt: now },
    resource: { group: ref.group, kind: ref.kind, namespace: slim.object.metadata.namespace ?? '', name: slim.object.metadata.name },
  };
  // A manifest is not in a cluster: nothing to say of its status or ownership there, only what its drift would be.
  if (manifest) return { signal: null, notes: [MANIFEST_NOTE], meshObject };
  const state = watchStateOf(slim.object, firstSight(slim.object, settings.evidence), settings);
  if (state === undefined) {
    return {
      signal: null,
      notes: [`nothing to alert: ${ref.kind} ${slim.object.metadata.name} is in effect as far as its status says`, ONE_OBJECT_NOTE],
      meshObject,
    };
  }
  return { signal: watchStatesSignal(cluster, owner, [{ obj: slim.object, state }], now), notes: [ONE_OBJECT_NOTE], meshObject };
}

/**
 * Any other Kubernetes object (a Deployment, a ConfigMap, a CRD instance the catalog does not
 * know): no state of its own to explain (the mesh watch does not watch it), but the "if it drifts"
 * table, for drift Argo CD or Flux would report of it (category non-mesh). Not an Argo CD Application.
 */
function otherObjectWhatIf(input: object, cluster: string, now: number): ExplainedInput | null {
  const ref = apiRefOf(input);
  if (ref === null || (ref.group === 'argoproj.io' && ref.kind === 'Application')) return null;
  const slim = slimMeshObject(withUid(input).object, ref, DEFAULT_MESH_WATCH_SETTINGS.ownership);
  if (!slim.ok) return null;
  const meta = slim.object.metadata;
  return {
    signal: null,
    notes: [
      `${ref.kind} is not a mesh kind of the catalog: nothing to alert from the object alone; "if it drifts" says what drift of it reported by Argo CD or Flux would be`,
    ],
    meshObject: {
      base: { source: 'mesh-watch', cluster, owner: ownerOfObject(slim.object), project: '', destination: {}, observedAt: now },
      resource: { group: ref.group, kind: ref.kind, namespace: meta.namespace ?? '', name: meta.name },
      states: GITOPS_STATES,
    },
  };
}

const MANIFEST_NOTE =
  'a manifest (no uid: not read from a cluster): nothing to alert as it is; "if it drifts" says what a drift of it would be once applied, its owner from its labels and annotations (Argo CD tracking, Flux), else its namespace';

/**
 * What kind of object a JSON file holds, as a signal. Offline, so a lone Flux change set has no
 * revision history: it is read as drift corrected at an unchanged revision, and the notes say so.
 */
export function signalFromJson(input: unknown, cluster: string, now: number): ExplainedInput {
  if (input !== null && typeof input === 'object') {
    if ('app' in input) {
      const body = argocdWebhookSchema.safeParse(input);
      if (!body.success) throw new InputError(`not an Argo CD webhook body: ${body.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      return { signal: applicationToSignal(body.data.app, { cluster: body.data.cluster ?? cluster, source: 'argocd-webhook', now }), notes: [] };
    }
    if ('involvedObject' in input) {
      const parsed = parseFluxEvent(input);
      if (!parsed.ok) throw new InputError(`not a Flux event: ${parsed.error}`);
      const revision = fluxRevisionOf(parsed.event);
      const interpretation = interpretFluxEvent(parsed.event, { cluster, previousRevision: revision, groupOfKind: (k) => createCatalog().groupOfKind(k), now });
      if (interpretation.kind === 'drift') {
        const notes =
          parsed.event.involvedObject.kind === 'Kustomization'
            ? [
                `a single Flux event has no revision history: its objects are explained as drift Flux corrected at an unchanged revision (${revision ?? 'none'}); meshdrift serve decides that from the revision it last saw`,
              ]
            : [];
        return { signal: interpretation.signal, notes };
      }
      return {
        signal: null,
        notes: [interpretation.kind === 'ignored' ? `nothing to alert: ${interpretation.why}` : `a rollout of ${interpretation.revision}, not drift`],
      };
    }
    const mesh = meshObjectSignal(input, cluster, now);
    if (mesh !== null) return mesh;
    if ('metadata' in input && ('status' in input || ('kind' in input && input.kind === 'Application'))) {
      const app = applicationSchema.safeParse(input);
      if (!app.success) throw new InputError(`not an Argo CD Application: ${app.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      return { signal: applicationToSignal(app.data, { cluster, source: 'argocd-webhook', now }), notes: [] };
    }
    const other = otherObjectWhatIf(input, cluster, now);
    if (other !== null) return other;
  }
  throw new InputError(
    'not an Argo CD Application, an Argo CD webhook body ({"app": ...}), a Flux event ({"involvedObject": ...}) or a mesh object of the catalog',
  );
}

function resourceName(f: Finding): string {
  return `${kindWithGroup(f.resource)} ${f.resource.namespace ? `${f.resource.namespace}/` : ''}${f.resource.name}`;
}

/** ARGOCD_URL and MESHDRIFT_GIT_HOSTS from the environment, as `serve` reads them (a bad value: no links). */
export function explainLinks(env: NodeJS.ProcessEnv): LinkContext {
  const hosts = parseGitHosts(env.MESHDRIFT_GIT_HOSTS);
  const argocdUrl = env.ARGOCD_URL?.trim();
  return { ...(argocdUrl ? { argocdUrl } : {}), ...(hosts.ok ? { gitHosts: hosts.hosts } : {}) };
}

// Text from the input file is shown on a terminal: one line each, nothing hidden (deliver/text.ts).
const line = (s: string): string => plainLine(s, 1024);

/** What changed, who changed it, the revision and the links: the lines under a finding (issue #16). */
export function evidenceLines(f: Finding, links: LinkContext): string[] {
  const out: string[] = [];
  if (f.changes !== undefined) {
    for (const c of f.changes.changes) out.push(`changed: ${line(changeText(c))}`);
    const more = changesLeftOut(f.changes, f.changes.changes.length);
    if (more > 0) out.push(`changed: ${moreChanges(more)}`);
  }
  for (const a of f.attribution ?? []) out.push(`who: ${line(attributionText(a))}`);
  if (f.revision !== undefined) out.push(`revision: ${line(f.revision)}${f.repoURL === undefined ? '' : ` (${line(f.repoURL)})`}`);
  const l = findingLinks(f, links);
  if (l.argocd !== undefined) out.push(`argo cd: ${l.argocd}`);
  if (l.commit !== undefined) out.push(`commit: ${l.commit}`);
  return out;
}

function findingJson(f: Finding, notes: readonly string[], links: LinkContext): Record<string, unknown> {
  const l = findingLinks(f, links);
  return {
    resource: f.resource,
    api: kindWithGroup(f.resource),
    state: f.state,
    mesh: f.mesh,
    category: f.category,
    severity: f.severity,
    receivers: f.receivers,
    ...(f.unnotified === undefined ? {} : { unnotified: f.unnotified }),
    reasons: [...f.reasons, ...notes],
    ...(f.labels && Object.keys(f.labels).length > 0 ? { labels: f.labels } : {}),
    ...(f.revision === undefined ? {} : { revision: f.revision }),
    ...(f.repoURL === undefined ? {} : { repoURL: f.repoURL }),
    ...(f.changes === undefined ? {} : { changes: changeListView(f.changes, line) }),
    ...(f.attribution === undefined || f.attribution.length === 0 ? {} : { changed_by: f.attribution.map((a) => attributionView(a, line)) }),
    ...(l.argocd === undefined && l.commit === undefined ? {} : { links: l }),
  };
}

/** The file's one object: JSON, or one YAML document (a manifest as kept in Git). */
export function parseInput(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (jsonError) {
    // Small limits: the file is the user's own, but a YAML alias bomb should still stop quickly.
    const docs = parseAllDocuments(text, { prettyErrors: false });
    if (!Array.isArray(docs) || docs.length !== 1 || (docs[0]?.errors.length ?? 1) > 0) {
      const yamlError = Array.isArray(docs) ? docs.flatMap((d) => d.errors)[0]?.message.split('\n')[0] : undefined;
      const why = Array.isArray(docs) && docs.length > 1 ? `${docs.length} YAML documents: explain one object at a time` : (yamlError ?? String(jsonError));
      throw new InputError(`${file} is neither JSON nor one YAML document: ${why}`);
    }
    return docs[0]?.toJS({ maxAliasCount: 100 });
  }
}

export interface WhatIfRow {
  state: string;
  severity: string;
  receivers: string[];
  /** Why it would be tracked but not sent (non-mesh drift without notify_non_mesh). */
  unnotified?: string;
}

/** What a finding about the mesh object would be in each drift state, under `policy`. */
export function whatIf(meshObject: NonNullable<ExplainedInput['meshObject']>, policy: ClassifyPolicy): { finding: Finding; rows: WhatIfRow[] } | null {
  let first: Finding | undefined;
  const rows: WhatIfRow[] = [];
  for (const state of meshObject.states ?? WHAT_IF_STATES) {
    const [f] = classify({ ...meshObject.base, completeness: 'partial', resources: [{ ...meshObject.resource, state }] }, policy);
    if (f === undefined) continue;
    first ??= f;
    rows.push({ state, severity: f.severity, receivers: f.receivers, ...(f.unnotified === undefined ? {} : { unnotified: f.unnotified }) });
  }
  return first === undefined ? null : { finding: first, rows };
}

function whatIfText(w: NonNullable<ReturnType<typeof whatIf>>): string {
  const f = w.finding;
  const lines = [
    `\nif it drifts: ${resourceName(f)}, owner ${f.owner.kind} ${f.owner.namespace ? `${f.owner.namespace}/` : ''}${f.owner.name}, mesh ${f.mesh}, category ${f.category}`,
    ...w.rows.map(
      (r) =>
        `  ${r.state.padEnd(12)} ${r.severity.toUpperCase().padEnd(8)} receivers: ${r.receivers.join(', ') || '(none)'}${r.unnotified === undefined ? '' : ` (tracked, not notified: ${r.unnotified} drift)`}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

function whatIfJson(w: NonNullable<ReturnType<typeof whatIf>>): Record<string, unknown> {
  const f = w.finding;
  return { resource: f.resource, api: kindWithGroup(f.resource), owner: f.owner, mesh: f.mesh, category: f.category, states: w.rows };
}

/** `meshdrift explain`: what would be alerted, how loudly, to whom, and why. Offline. */
export async function runExplain(
  args: readonly string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let file: string | undefined;
  let policyFile: string | undefined;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--policy') policyFile = args[++i];
    else if (a?.startsWith('--policy=')) policyFile = a.slice('--policy='.length);
    else if (file === undefined && a !== undefined && !a.startsWith('--')) file = a;
    else {
      err.write(`meshdrift explain: unexpected argument "${a ?? ''}"\n${USAGE}`);
      return 2;
    }
  }
  if (file === undefined || (args.includes('--policy') && policyFile === undefined)) {
    err.write(USAGE);
    return 2;
  }

  let policy: ClassifyPolicy = defaultPolicy(createCatalog(), ['console']);
  let policyName = 'built-in defaults';
  if (policyFile !== undefined) {
    const loaded = await loadPolicyFile(policyFile);
    if (!loaded.ok) {
      for (const e of loaded.errors) err.write(`${formatPolicyError(e)}\n`);
      return 2;
    }
    policy = loaded.policy.classify;
    policyName = policyFile;
  }

  let explained: ExplainedInput;
  try {
    const text = await readFile(file, 'utf8').catch((e: unknown) => {
      throw new InputError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    });
    explained = signalFromJson(parseInput(text, file), env.MESHDRIFT_CLUSTER?.trim() || 'in-cluster', Date.now());
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    err.write(`meshdrift explain: ${e.message}\n`);
    return 2;
  }

  const findings = explained.signal ? classify(explained.signal, policy) : [];
  const links = explainLinks(env);
  const drifts = explained.meshObject === undefined ? null : whatIf(explained.meshObject, policy);
  if (json) {
    const body = {
      findings: findings.map((f) => findingJson(f, explained.notes, links)),
      ...(findings.length === 0 ? { notes: explained.notes } : {}),
      ...(drifts === null ? {} : { if_it_drifts: whatIfJson(drifts) }),
    };
    out.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  const s = explained.signal;
  out.write(`policy: ${policyName}\n`);
  if (s)
    out.write(
      `${s.owner.kind} ${s.owner.namespace ? `${s.owner.namespace}/` : ''}${s.owner.name} on ${s.cluster}: ${findings.length} finding${findings.length === 1 ? '' : 's'}${s.completeness === 'partial' ? ' (partial: resolves nothing)' : ''}\n`,
    );
  for (const note of explained.notes) out.write(`note: ${note}\n`);
  for (const f of findings) {
    out.write(`\n${f.severity.toUpperCase().padEnd(8)} ${resourceName(f)}\n`);
    out.write(`         state ${f.state}, mesh ${f.mesh}, category ${f.category}${f.detail ? `, ${f.detail}` : ''}\n`);
    const untold = f.unnotified === undefined ? '' : ` (tracked, not notified: ${f.unnotified} drift)`;
    out.write(`         receivers: ${f.receivers.join(', ') || '(none)'}${untold}\n`);
    for (const r of f.reasons) out.write(`         - ${r}\n`);
    for (const e of evidenceLines(f, links)) out.write(`         ${e}\n`);
  }
  if (drifts !== null) out.write(whatIfText(drifts));
  return 0;
}
