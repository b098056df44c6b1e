import { describe, expect, it } from 'vitest';
import { classify, type ClassifyPolicy } from '../../../src/classify/classify.ts';
import { formatPolicyError, loadPolicyText } from '../../../src/config/load.ts';
import type { Signal } from '../../../src/model/signal.ts';
import { groupInputs } from '../../../src/track/grouping.ts';

/**
 * Issue #18: the policy takes matchers and group_by as Alertmanager's config does: a `matchers:`
 * entry may hold several matchers (bare or in braces, trailing comma allowed), errors point at
 * the character, and `group_by: ['...']` groups by every label.
 */

function load(routes: string, extra = ''): ReturnType<typeof loadPolicyText> {
  return loadPolicyText(
    `receivers:\n  - { name: chat, console: {} }\n  - { name: pager, console: {} }\nroute:\n  receiver: chat\n  routes:\n${routes}${extra}`,
    'p.yaml',
  );
}

function policy(routes: string, extra = ''): ClassifyPolicy {
  const loaded = load(routes, extra);
  if (!loaded.ok) throw new Error(loaded.errors.map(formatPolicyError).join('\n'));
  return loaded.policy.classify;
}

function errors(routes: string, extra = ''): string[] {
  const loaded = load(routes, extra);
  return loaded.ok ? [] : loaded.errors.map(formatPolicyError);
}

function signal(cluster: string, names: string[]): Signal {
  return {
    source: 'argocd-webhook',
    cluster,
    owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
    project: 'default',
    destination: {},
    observedAt: 1_000,
    completeness: 'snapshot',
    resources: names.map((name) => ({ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'mesh', name, state: 'Modified' as const })),
  };
}

function receivers(p: ClassifyPolicy, s: Signal): string[] {
  return groupInputs(s, classify(s, p), p.route).map((i) => i.labels?.receiver ?? '');
}

describe('matchers entries with several matchers', () => {
  it.each([
    ['bare, comma-separated', `'cluster=prod,tool=argocd'`],
    ['bare, trailing comma', `'cluster=prod, tool=argocd,'`],
    ['in braces', `'{cluster="prod", tool=~"argo.*"}'`],
    ['one per entry', `['cluster="prod"', 'tool="argocd"']`],
  ])('%s: every matcher must match', (_name, entry) => {
    const matchers = entry.startsWith('[') ? entry : `[${entry}]`;
    const p = policy(`    - { matchers: ${matchers}, receiver: pager }\n`);
    expect(receivers(p, signal('prod', ['a']))).toEqual(['pager']);
    expect(receivers(p, signal('staging', ['a']))).toEqual(['chat']);
  });

  it('`{}` is no matcher: the route takes everything', () => {
    const p = policy(`    - { matchers: ['{}'], receiver: pager }\n`);
    expect(receivers(p, signal('staging', ['a']))).toEqual(['pager']);
  });

  it('points at the character and says what to write', () => {
    expect(errors(`    - matchers: ['cluster=prod,,tool=argocd']\n`)).toEqual([
      expect.stringMatching(/^p\.yaml:7:32: route\.routes\[0\]\.matchers\[0\]: an empty matcher .*; write name=value/),
    ]);
    expect(errors(`    - matchers: ['job="value']\n`)).toEqual([expect.stringMatching(/^p\.yaml:7:23: .*no closing double quote.*\\"/)]);
    expect(errors(`    - matchers: ['job:rate=1']\n`)).toEqual([
      expect.stringMatching(/^p\.yaml:7:19: .*label name "job:rate" is not accepted.*unlike Alertmanager/),
    ]);
  });

  it('inhibit rules take lists too', () => {
    const loaded = load(
      `    - { receiver: pager }\n`,
      `inhibit_rules:\n  - { source_matchers: ['{severity="critical", cluster=prod}'], target_matchers: ['severity=~"warning|info",'] }\n`,
    );
    expect(loaded.ok).toBe(true);
    if (loaded.ok) {
      const rule = loaded.policy.inhibitRules.at(-1);
      expect(rule?.source.map((m) => `${m.name}${m.op}${m.value}`)).toEqual(['severity=critical', 'cluster=prod']);
    }
  });
});

describe("group_by: ['...']", () => {
  it('groups by every label: each resource its own group', () => {
    const p = policy(`    - { matchers: ['cluster=prod'], receiver: pager, group_by: ['...'] }\n`);
    const groups = groupInputs(signal('prod', ['a', 'b']), classify(signal('prod', ['a', 'b']), p), p.route);
    expect(groups).toHaveLength(2);
    expect(groups.map((g) => g.labels?.groupBy?.name).sort()).toEqual(['a', 'b']);
    expect(groups[0]?.labels?.groupBy).toMatchObject({ cluster: 'prod', tool: 'argocd', owner: 'payments', kind: 'VirtualService' });
    // Without it, the default group_by puts both in one group.
    const q = policy(`    - { matchers: ['cluster=prod'], receiver: pager }\n`);
    expect(groupInputs(signal('prod', ['a', 'b']), classify(signal('prod', ['a', 'b']), q), q.route)).toHaveLength(1);
  });

  it('is refused next to other labels, as in Alertmanager', () => {
    expect(errors(`    - { receiver: pager, group_by: ['...', cluster] }\n`)).toEqual([
      expect.stringMatching(/route\.routes\[0\]\.group_by: cannot have `\.\.\.` \(group by every label\) and other labels/),
    ]);
    expect(errors(`    - { receiver: pager, group_by: ['a-b'] }\n`)).toEqual([expect.stringMatching(/group_by\[0\]|group_by\.0/)]);
  });
});
