import { describe, expect, it } from 'vitest';
import { firstSight, nextVersion, untrustedOnlyPaths, writersOf } from '../../../../src/sources/mesh/evidence.ts';
import { DEFAULT_OWNERSHIP } from '../../../../src/sources/mesh/ownership.ts';
import { DEFAULT_MESH_WATCH_SETTINGS } from '../../../../src/sources/mesh/settings.ts';
import { slimMeshObject, type SlimMeshObject } from '../../../../src/sources/mesh/slim.ts';
import { entry, gitopsEntry, HOSTS_ONLY, HTTP_ONLY, type Owner, reviewsHttp, virtualService } from '../../../support/mesh.ts';

/** evidence.ts, pure: what one version of an object means against the previous one. */

const s = DEFAULT_MESH_WATCH_SETTINGS.evidence;
const T0 = Date.parse('2026-12-04T13:00:00Z');
const EDIT = Date.parse('2026-12-04T14:03:00Z');
const ARGO: Owner = { tool: 'argocd', app: 'bookinfo-mesh' };
const FLUX: Owner = { tool: 'flux', kustomization: 'bookinfo', namespace: 'flux-system' };

function slim(obj: unknown): SlimMeshObject {
  const r = slimMeshObject(obj, { group: 'networking.istio.io', kind: 'VirtualService' }, DEFAULT_OWNERSHIP);
  if (!r.ok) throw new Error(r.error);
  return r.object;
}
const edited = (owner: Owner, weights: [number, number], extra: Record<string, unknown> = {}) =>
  slim(
    virtualService({
      owner,
      http: reviewsHttp(weights, extra),
      managers: [gitopsEntry(owner, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
    }),
  );
const clean = (owner: Owner, at = T0) => slim(virtualService({ owner, http: reviewsHttp([90, 10]), managers: [gitopsEntry(owner, at)] }));

describe('the baseline and who wrote a version', () => {
  it('a clean object has no untrusted paths and no evidence at first sight', () => {
    const mem = firstSight(clean(ARGO), s);
    expect(mem.shadow).toBeUndefined();
    expect(mem.episode).toBeUndefined();
    expect(mem.baseline).toBe(mem.prev.body);
  });

  it('the writers of a version are the entries new or with a new time', () => {
    const before = clean(ARGO).managers;
    const after = edited(ARGO, [50, 50]).managers;
    expect(writersOf(before, after).map((m) => m.manager)).toEqual(['kubectl-edit']);
    expect(untrustedOnlyPaths(after, s)).toEqual(['spec.http']);
  });

  it('at first sight, an edited Argo CD object is shadow by managedFields (who, which paths; no before/after)', () => {
    const mem = firstSight(edited(ARGO, [50, 50]), s);
    expect(mem.shadow).toEqual({
      attribution: [{ kind: 'tool', who: 'kubectl-edit', operation: 'Update', at: EDIT, source: 'managedFields', paths: ['spec.http'] }],
    });
    expect(mem.episode).toBeUndefined();
  });

  it('at first sight, an edited Flux object is an edit (Flux has not applied since): Modified with who and which paths', () => {
    const mem = firstSight(edited(FLUX, [50, 50]), s);
    expect(mem.episode?.paths).toEqual(['spec.http']);
    expect(mem.episode?.attribution[0]?.who).toBe('kubectl-edit');
    expect(mem.shadow).toBeUndefined();
  });
});

describe('versions', () => {
  it('an edit keeps the baseline; the revert by the GitOps manager closes the episode with its evidence', () => {
    const m0 = firstSight(clean(FLUX), s);
    const e = nextVersion(m0, edited(FLUX, [50, 50]), s);
    expect(e.outcome.kind).toBe('edit');
    expect(e.mem.baseline).toBe(m0.baseline);
    const r = nextVersion(e.mem, clean(FLUX, EDIT + 60_000), s);
    expect(r.outcome).toMatchObject({ kind: 'reverted', by: 'kustomize-controller', at: EDIT + 60_000 });
    expect(r.mem.episode).toBeUndefined();
  });

  it('a GitOps write of a new Git version moves the baseline: the next edit is compared with it', () => {
    const m0 = firstSight(clean(ARGO), s);
    const rollout = slim(virtualService({ owner: ARGO, http: reviewsHttp([80, 20]), managers: [gitopsEntry(ARGO, T0 + 1000)] }));
    const m1 = nextVersion(m0, rollout, s);
    expect(m1.outcome.kind).toBe('none');
    const e = nextVersion(m1.mem, edited(ARGO, [50, 50]), s);
    expect(e.outcome.kind === 'edit' ? e.outcome.changes?.changes[0] : undefined).toEqual({ path: 'spec.http[0].route[0].weight', before: '80', after: '50' });
  });

  it('under Flux, an added field is an edit (Modified); under Argo CD it is shadow drift', () => {
    const flux = nextVersion(firstSight(clean(FLUX), s), edited(FLUX, [90, 10], { timeout: '1s' }), s);
    expect(flux.outcome.kind).toBe('edit');
    const argo = nextVersion(firstSight(clean(ARGO), s), edited(ARGO, [90, 10], { timeout: '1s' }), s);
    expect(argo.outcome.kind).toBe('none');
    expect(argo.mem.shadow?.changes?.changes).toEqual([{ path: 'spec.http[0].timeout', after: '"1s"' }]);
  });

  it('a write by an ignored manager moves the baseline and is never an edit', () => {
    const ignoring = { ...s, ignored: new Set(['rollouts-controller']) };
    const m0 = firstSight(clean(ARGO), ignoring);
    const rollout = slim(
      virtualService({
        owner: ARGO,
        http: reviewsHttp([50, 50]),
        managers: [gitopsEntry(ARGO, T0, HOSTS_ONLY), entry('rollouts-controller', 'Update', EDIT, HTTP_ONLY)],
      }),
    );
    const r = nextVersion(m0, rollout, ignoring);
    expect(r.outcome.kind).toBe('none');
    expect(r.mem.shadow).toBeUndefined();
    expect(r.mem.baseline).toBe(rollout.body);
  });
});

describe('an edit reverted by hand (the editor owns all of spec.http, as Kubernetes records a whole-list edit)', () => {
  const REVERT = EDIT + 60_000;
  const LATER = EDIT + 120_000;
  // kubectl edit of an atomic list: kubectl-edit owns `f:spec: f:http: {}`, the GitOps entry keeps only hosts.
  const byHand = (owner: Owner, weights: [number, number], at: number) =>
    slim(
      virtualService({
        owner,
        http: reviewsHttp(weights),
        managers: [gitopsEntry(owner, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', at, HTTP_ONLY)],
      }),
    );

  for (const owner of [ARGO, FLUX]) {
    it(`${owner.tool}: the revert ends the episode as reverted by kubectl-edit; the baseline stays the GitOps write, spec.http included`, () => {
      const m0 = firstSight(clean(owner), s);
      expect(JSON.parse(m0.baseline ?? '{}').spec.http).toHaveLength(1);
      const e = nextVersion(m0, byHand(owner, [50, 50], EDIT), s);
      expect(e.outcome.kind).toBe('edit');
      const r = nextVersion(e.mem, byHand(owner, [90, 10], REVERT), s);
      expect(r.outcome).toMatchObject({ kind: 'reverted', by: 'kubectl-edit', at: REVERT });
      expect(r.mem.baseline).toBe(m0.baseline);
      expect(r.mem.baselineMasked).toEqual(m0.baselineMasked);
      expect(r.mem.episode).toBeUndefined();
      expect(r.mem.shadow).toBeUndefined();
      // A later edit is compared with the true baseline: one weight changed, not spec.http added.
      const again = nextVersion(r.mem, byHand(owner, [70, 30], LATER), s);
      expect(again.outcome.kind).toBe('edit');
      expect(again.outcome.kind === 'edit' ? again.outcome.changes?.changes : undefined).toEqual([
        { path: 'spec.http[0].route[0].weight', before: '90', after: '70' },
        { path: 'spec.http[0].route[1].weight', before: '10', after: '30' },
      ]);
      expect(again.mem.baseline).toBe(m0.baseline);
    });
  }

  it('a hand write equal to the baseline with no episode open changes nothing', () => {
    const m0 = firstSight(clean(FLUX), s);
    const r = nextVersion(m0, byHand(FLUX, [90, 10], REVERT), s);
    expect(r.outcome.kind).toBe('none');
    expect(r.mem.baseline).toBe(m0.baseline);
    const again = nextVersion(r.mem, byHand(FLUX, [70, 30], LATER), s);
    expect(again.outcome.kind === 'edit' ? again.outcome.changes?.changes.map((c) => c.path) : undefined).toEqual([
      'spec.http[0].route[0].weight',
      'spec.http[0].route[1].weight',
    ]);
  });
});
