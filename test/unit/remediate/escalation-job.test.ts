import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { Notification } from '../../../src/model/alert-group.ts';
import { createLogger } from '../../../src/log.ts';
import type { Queues } from '../../../src/queue/queues.ts';
import type { EscalationEvent } from '../../../src/remediate/escalation.ts';
import { createEscalationHandler } from '../../../src/remediate/jobs.ts';
import { capturedBestEffort } from '../../support/best-effort.ts';

// The `escalation` job reads the notification its event refers to, for the message's findings. A
// read that fails (Redis) does not stop the escalation from being told (its headline names the owner);
// the failure is counted and logged (best-effort `escalation_source_read`), once a minute.
const event: EscalationEvent = {
  id: 'flap:auto-sync:g:3:shop',
  status: 'firing',
  kind: 'flap-breaker',
  receiver: 'auto-sync',
  cluster: 'prod',
  tool: 'argocd',
  owner: { kind: 'Application', namespace: 'argocd', name: 'shop' },
  project: 'default',
  severity: 'high',
  reason: 'remediated 3 times in 10 minutes',
  resources: [{ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'shop', name: 'cart' }],
  fingerprints: ['fp-cart'],
  groupKey: 'g',
  seq: 3,
  firstAt: 1_000,
  at: 1_000,
};

describe('escalation job', () => {
  it('tells the escalation when its source notification cannot be read, and reports the read', async () => {
    const seen = capturedBestEffort();
    const sent: Notification[] = [];
    const handler = createEscalationHandler({
      notifiers: () =>
        new Map([
          [
            'pager',
            {
              type: 'console',
              send: async (n: Notification) => {
                sent.push(n);
                return { ok: true } as const;
              },
            },
          ],
        ]),
      metrics: seen.metrics,
      log: createLogger('silent'),
      bestEffort: seen.bestEffort,
      queues: {
        notifications: {
          load: async () => {
            throw new Error('Connection is closed.');
          },
        } as unknown as Queues['notifications'],
      },
    });
    const job = { data: { receiver: 'pager', event }, attemptsMade: 0, opts: { attempts: 3 } } as unknown as Job;
    await expect(handler(job, 'token')).resolves.toBe('told');
    await expect(handler(job, 'token')).resolves.toBe('told');
    expect(sent).toHaveLength(2);
    // Told without its findings list; the headline names the owner and why.
    expect(sent[0]).toMatchObject({ firing: [], escalation: { headline: expect.stringContaining('argocd/shop') } });
    expect(await seen.failures('escalation_source_read')).toBe(2);
    expect(seen.warnings('escalation_source_read')).toEqual([expect.objectContaining({ level: 40, failed: 1, error: 'Connection is closed.' })]);
  });
});
