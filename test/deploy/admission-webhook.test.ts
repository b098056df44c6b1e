import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MESH_CATALOG } from '../../src/classify/catalog.ts';

/**
 * The recorder webhook's rules (deploy/kubernetes/overlays/admission/validatingwebhook.yaml) and the
 * mesh catalog say the same thing: every mesh kind is sent to meshdrift, and nothing else is, except
 * the other kinds of groups sent whole (none of which is written often). cilium.io and kuma.io are
 * listed by resource, because their agents write kinds of their own all the time.
 */
const FILE = fileURLToPath(new URL('../../deploy/kubernetes/overlays/admission/validatingwebhook.yaml', import.meta.url));
/** Groups whose every kind is not a mesh kind of the catalog, and that hold kinds written at a high rate. */
const BY_RESOURCE = new Set(['cilium.io', 'kuma.io', 'networking.k8s.io']);
/** Webhooks are never called for webhook configurations. */
const NEVER_CALLED = new Set(['admissionregistration.k8s.io']);

/** The plural (resource name) of a kind, as these CRDs spell it. */
function pluralOf(kind: string): string {
  const l = kind.toLowerCase();
  if (/[^aeiou]y$/.test(l)) return `${l.slice(0, -1)}ies`;
  if (/(s|x|sh|ch)$/.test(l)) return `${l}es`;
  return `${l}s`;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
}

describe('the recorder webhook rules', () => {
  const vwc = parse(readFileSync(FILE, 'utf8')) as { webhooks: Array<{ rules: Rule[] }> };
  const rules = vwc.webhooks.flatMap((w) => w.rules);
  const sent = new Map<string, Set<string>>();
  for (const r of rules) for (const g of r.apiGroups) sent.set(g, new Set([...(sent.get(g) ?? []), ...r.resources]));

  it('sends every mesh kind of the catalog', () => {
    const missing = MESH_CATALOG.filter((e) => !NEVER_CALLED.has(e.group)).filter((e) => {
      const resources = sent.get(e.group);
      return resources === undefined || !(resources.has('*') || resources.has(pluralOf(e.kind)));
    });
    expect(missing.map((e) => `${e.group}/${e.kind}`)).toEqual([]);
  });

  it('sends nothing outside the catalog: whole groups only where no kind is written at a high rate, else the mesh kinds by name', () => {
    const groups = new Set(MESH_CATALOG.map((e) => e.group));
    for (const [group, resources] of sent) {
      expect(groups.has(group), group).toBe(true);
      if (BY_RESOURCE.has(group)) {
        expect(resources.has('*'), group).toBe(false);
        expect([...resources].sort()).toEqual(
          MESH_CATALOG.filter((e) => e.group === group)
            .map((e) => pluralOf(e.kind))
            .sort(),
        );
      } else expect([...resources], group).toEqual(['*']);
    }
  });

  it('spells the plurals of the catalog kinds as the CRDs do', () => {
    expect(['Mesh', 'MeshTLS', 'Retry', 'MeshLoadBalancingStrategy', 'CiliumCIDRGroup', 'NetworkPolicy'].map(pluralOf)).toEqual([
      'meshes',
      'meshtlses',
      'retries',
      'meshloadbalancingstrategies',
      'ciliumcidrgroups',
      'networkpolicies',
    ]);
  });
});
