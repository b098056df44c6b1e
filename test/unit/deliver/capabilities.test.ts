import { describe, expect, it } from 'vitest';
import { Capability, withCapabilities, type Notifier } from '../../../src/deliver/notifier.ts';
import { createPagerDutyNotifier } from '../../../src/deliver/pagerduty/notifier.ts';
import { ACKNOWLEDGE } from '../../../src/deliver/pagerduty/acknowledge-job.ts';
import { OWNER_NOTES, ownerNoteReceivers } from '../../../src/deliver/slack/note-job.ts';
import type { OwnerNote } from '../../../src/model/owner-note.ts';

/** Receivers declare what they can do besides send(); the job handlers ask the capability, never the object's shape. */

const note: OwnerNote = {
  id: 'n1',
  cluster: 'prod',
  tool: 'argocd',
  owner: { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' },
  text: 'hi',
  broadcast: false,
};
const plain = (): Notifier => ({ type: 'console', send: async () => ({ ok: true }) });

describe('receiver capabilities', () => {
  it('a declared capability is found, with its implementation', async () => {
    const told: string[] = [];
    const base = { type: 'slack', send: async () => ({ ok: true as const }), tellOwner: async (n: OwnerNote) => (told.push(n.id), { ok: true as const }) };
    const n = withCapabilities(base, OWNER_NOTES.grant(base));
    expect(n.capabilities.names).toEqual(['owner-notes']);
    await expect(OWNER_NOTES.of(n)?.tellOwner(note)).resolves.toEqual({ ok: true });
    expect(told).toEqual(['n1']);
    expect(ACKNOWLEDGE.of(n)).toBeUndefined();
  });

  it('an object that merely looks capable (a tellOwner method) is not: nothing is inferred from shape', () => {
    const lookalike = {
      type: 'slack',
      send: async () => ({ ok: true as const }),
      tellOwner: async () => ({ ok: true as const }),
      acknowledge: async () => ({ ok: true as const }),
    };
    expect(OWNER_NOTES.of(lookalike)).toBeUndefined();
    expect(ACKNOWLEDGE.of(lookalike)).toBeUndefined();
    expect(ownerNoteReceivers(new Map<string, Notifier>([['chat', lookalike]]))).toEqual([]);
  });

  it('a copy of a notifier keeps its declared capabilities (the send_resolved wrapper spreads it)', () => {
    const pd = createPagerDutyNotifier({ routingKey: 'a'.repeat(32), eventsUrl: 'http://127.0.0.1:9/v2/enqueue' });
    const copy: Notifier = { ...pd, send: pd.send.bind(pd), sendResolved: false };
    expect(ACKNOWLEDGE.of(pd)).toBeDefined();
    expect(ACKNOWLEDGE.of(copy)).toBe(ACKNOWLEDGE.of(pd));
  });

  it('a capability granted by one key is not another key of the same name', () => {
    const other = new Capability<{ tellOwner(n: OwnerNote): Promise<{ ok: true }> }>('owner-notes');
    const base = plain();
    const n = withCapabilities(base, other.grant({ tellOwner: async () => ({ ok: true }) }));
    expect(other.of(n)).toBeDefined();
    expect(OWNER_NOTES.of(n)).toBeUndefined();
  });

  it('lists the receivers that tell owner notes', () => {
    const base = { ...plain(), tellOwner: async () => ({ ok: true as const }) };
    const slack = withCapabilities(base, OWNER_NOTES.grant(base));
    expect(
      ownerNoteReceivers(
        new Map<string, Notifier>([
          ['console', plain()],
          ['chat', slack],
        ]),
      ),
    ).toEqual(['chat']);
  });
});
