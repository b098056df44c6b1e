import { describe, expect, it } from 'vitest';
import { renderPagerDutyAcknowledge, pagerDutyDedupKey } from '../../../src/deliver/pagerduty/render.ts';
import { ackSummary, pagerDutyAckTargets } from '../../../src/deliver/pagerduty/acknowledge.ts';
import type { SlackActionsConfig } from '../../../src/route/route-config.ts';
import { authorizeSlackAction, slackActionAllowed } from '../../../src/deliver/slack/authorize.ts';

const ENV = new Set(['U0ENV']);
const route = { allowed: ['U0LEAD', 'S0TEAM'], actions: ['silence', 'acknowledge'] as Array<'sync' | 'silence' | 'acknowledge'> };

describe('authorizeSlackAction', () => {
  it.each([
    ['no route setting: the env list allows', 'silence', 'U0ENV', undefined, { decided: true, allowed: true }],
    ['no route setting: others refused', 'silence', 'U0X', undefined, { decided: true, allowed: false }],
    ['named by the route', 'acknowledge', 'U0LEAD', route, { decided: true, allowed: true }],
    ['the env list does not apply where the route names people', 'silence', 'U0ENV', route, { decided: false, groups: ['S0TEAM'] }],
    ['an action the route does not list is refused even to a named user', 'sync', 'U0LEAD', route, { decided: true, allowed: false }],
    ['"*" allows anyone', 'sync', 'U0X', { allowed: ['*'], actions: ['sync'] }, { decided: true, allowed: true }],
    ['no group to check: refused', 'silence', 'U0X', { allowed: ['U0LEAD'], actions: ['silence'] }, { decided: true, allowed: false }],
  ] as Array<[string, 'sync' | 'silence' | 'acknowledge', string, SlackActionsConfig | undefined, object]>)('%s', (_name, action, user, r, expected) => {
    expect(authorizeSlackAction(action, user, r, ENV)).toMatchObject(expected);
  });

  it('user group membership decides the rest; without a way to read groups it rejects', async () => {
    const groups = { members: async (id: string) => (id === 'S0TEAM' ? ['U0MEMBER'] : []) };
    await expect(slackActionAllowed('silence', 'U0MEMBER', route, ENV, groups)).resolves.toBe(true);
    await expect(slackActionAllowed('silence', 'U0X', route, ENV, groups)).resolves.toBe(false);
    await expect(slackActionAllowed('silence', 'U0X', route, ENV, undefined)).rejects.toThrow(/no Slack bot token/);
  });
});

describe('PagerDuty acknowledge', () => {
  it('targets firing groups of PagerDuty receivers, with the trigger dedup key', () => {
    const targets = pagerDutyAckTargets(
      [
        { groupKey: 'g-pd', receiver: 'oncall', firing: true },
        { groupKey: 'g-pd-resolved', receiver: 'oncall', firing: false },
        { groupKey: 'g-slack', receiver: 'chat', firing: true },
      ],
      (r) => r === 'oncall',
    );
    expect(targets).toEqual([{ receiver: 'oncall', groupKey: 'g-pd' }]);
    expect(ackSummary(targets)).toBe('PagerDuty: acknowledging 1 alert');
    expect(ackSummary([])).toBe('no open PagerDuty alert');
    expect(renderPagerDutyAcknowledge('g-pd', 'KEY')).toEqual({
      routing_key: 'KEY',
      event_action: 'acknowledge',
      dedup_key: pagerDutyDedupKey('g-pd'),
      client: 'meshdrift',
    });
  });
});
