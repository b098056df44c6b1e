import { readFile } from 'node:fs/promises';
import { createCatalog } from '../classify/catalog.ts';
import { classify, defaultPolicy, type ClassifyPolicy } from '../classify/classify.ts';
import { parseGitHosts } from '../config/git-hosts.ts';
import { formatPolicyError, loadPolicyFile } from '../config/load.ts';
import { attributionText, attributionView, changeListView, changesLeftOut, changeText, kindWithGroup, moreChanges } from '../deliver/evidence.ts';
import { findingLinks, type LinkContext } from '../deliver/links.ts';
import { plainLine } from '../deliver/text.ts';
import type { Finding } from '../model/finding.ts';
import type { Signal } from '../model/signal.ts';
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
}

/** The API group and kind of a Kubernetes object (`apiVersion: group/version`; `v1` is the core group). */
function apiRefOf(input: object): { group: string; kind: string } | null {
  const { apiVersion, kind } = input as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return null;
  const slash = apiVersion.lastIndexOf('/');
  return { group: slash === -1 ? '' : apiVersion.slice(0, slash), kind };
}

const ONE_OBJECT_NOTE =
  'a single object has no history: an edit outside GitOps (Modified, Corrected) needs the mesh watch to see the write; this explains what the object shows alone (not in effect, shadow drift, unmanaged), with the default ownership settings';

/**
 * A mesh object of the catalog (`kubectl get -o json`), as the mesh watch would see it the first
 * time: the watch-only state it is in (not in effect, shadow drift, unmanaged), if any. Null for
 * an object the catalog does not know.
 */
function meshObjectSignal(input: object, cluster: string, now: number): ExplainedInput | null {
  const ref = apiRefOf(input);
  if (ref === null || createCatalog().lookup(ref.group, ref.kind) === undefined) return null;
  const settings = DEFAULT_MESH_WATCH_SETTINGS;
  const slim = slimMeshObject(input, ref, settings.ownership);
  if (!slim.ok) throw new InputError(`not a mesh object: ${slim.error}`);
  const state = watchStateOf(slim.object, firstSight(slim.object, settings.evidence), settings);
  if (state === undefined)
    return { signal: null, notes: [`nothing to alert: ${ref.kind} ${slim.object.metadata.name} is in effect as far as its status says`, ONE_OBJECT_NOTE] };
  return { signal: watchStatesSignal(cluster, ownerOfObject(slim.object), [{ obj: slim.object, state }], now), notes: [ONE_OBJECT_NOTE] };
}

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
    reasons: [...f.reasons, ...notes],
    ...(f.labels && Object.keys(f.labels).length > 0 ? { labels: f.labels } : {}),
    ...(f.revision === undefined ? {} : { revision: f.revision }),
    ...(f.repoURL === undefined ? {} : { repoURL: f.repoURL }),
    ...(f.changes === undefined ? {} : { changes: changeListView(f.changes, line) }),
    ...(f.attribution === undefined || f.attribution.length === 0 ? {} : { changed_by: f.attribution.map((a) => attributionView(a, line)) }),
    ...(l.argocd === undefined && l.commit === undefined ? {} : { links: l }),
  };
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
    let input: unknown;
    try {
      input = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${file} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    explained = signalFromJson(input, env.MESHDRIFT_CLUSTER?.trim() || 'in-cluster', Date.now());
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    err.write(`meshdrift explain: ${e.message}\n`);
    return 2;
  }

  const findings = explained.signal ? classify(explained.signal, policy) : [];
  const links = explainLinks(env);
  if (json) {
    const body = { findings: findings.map((f) => findingJson(f, explained.notes, links)), ...(findings.length === 0 ? { notes: explained.notes } : {}) };
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
    out.write(`         receivers: ${f.receivers.join(', ') || '(none)'}\n`);
    for (const r of f.reasons) out.write(`         - ${r}\n`);
    for (const e of evidenceLines(f, links)) out.write(`         ${e}\n`);
  }
  return 0;
}
