import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  actionLogLine,
  decodeButtonValue,
  encodeButtonValue,
  parseActionId,
  silenceMatchersFor,
  SLACK_ACTION_IDS,
  SLACK_ACTION_KINDS,
  SLACK_ACTION_LOG_BLOCK_ID,
  SLACK_ACTIONS_BLOCK_ID,
  withActionLog,
} from '../../../src/deliver/slack/actions.ts';
import type { SlackBlock } from '../../../src/deliver/slack/blocks.ts';
import { renderSlackMessage, SLACK_LIMITS } from '../../../src/deliver/slack/render.ts';
import { verifySlackRequest } from '../../../src/http/verify-signature.ts';
import { compileMatcher, matchesAll } from '../../../src/route/matcher.ts';
import { groupMatchers } from '../../../src/deliver/links.ts';
import { makeNotification, makeTrackedFinding } from '../../support/notifications.ts';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW = Date.UTC(2026, 4, 1, 12, 0, 0);
const TS = String(Math.floor(NOW / 1000));
const BODY = Buffer.from('payload=%7B%22type%22%3A%22block_actions%22%7D');

function sign(body: Buffer | string, ts: string, secret = SECRET): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body.toString()}`).digest('hex')}`;
}

describe('verifySlackRequest', () => {
  const headers = (ts = TS, sig = sign(BODY, ts)) => ({ 'x-slack-request-timestamp': ts, 'x-slack-signature': sig });

  it("accepts Slack's documented example vector", () => {
    // api.slack.com/authentication/verifying-requests-from-slack, recomputed here.
    const body = Buffer.from('token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fhelloworld');
    const ts = '1531420618';
    const sig = sign(body, ts, SECRET);
    expect(verifySlackRequest(body, { 'x-slack-request-timestamp': ts, 'x-slack-signature': sig }, SECRET, 1531420618_000 + 10_000)).toMatchObject({
      ok: true,
    });
  });

  it('accepts a fresh, correctly signed request, with headers in any case', () => {
    expect(verifySlackRequest(BODY, headers(), SECRET, NOW)).toMatchObject({ ok: true });
    expect(
      verifySlackRequest(BODY, { 'X-Slack-Request-Timestamp': TS, 'X-Slack-Signature': sign(BODY, TS).toUpperCase().replace('V0=', 'v0=') }, SECRET, NOW),
    ).toMatchObject({ ok: true });
  });

  it('gives every accepted spelling of one signed request the same replay key (issue #12 item 6)', () => {
    const sig = sign(BODY, TS);
    const hex = sig.slice(3);
    const spellings = [
      sig,
      `V0=${hex}`,
      `v0=${hex.toUpperCase()}`,
      `V0=${hex.toUpperCase()}`,
      ` ${sig} `,
      `v0=${hex.slice(0, 32).toUpperCase()}${hex.slice(32)}`,
    ];
    const keys = spellings.map((s) => {
      const r = verifySlackRequest(BODY, headers(TS, s), SECRET, NOW);
      if (!r.ok) throw new Error(`${s}: ${r.reason}`);
      return r.replayKey;
    });
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(keys[0]).not.toContain(hex);
    // Another request (other body, or the same body signed at another second) is another key.
    const other = Buffer.from(`${BODY.toString()}x`);
    const r2 = verifySlackRequest(other, headers(TS, sign(other, TS)), SECRET, NOW);
    const ts2 = String(Number(TS) + 1);
    const r3 = verifySlackRequest(BODY, headers(ts2, sign(BODY, ts2)), SECRET, NOW);
    expect(r2.ok && r3.ok && new Set([keys[0], r2.replayKey, r3.replayKey]).size).toBe(3);
  });

  it('accepts timestamps up to 5 minutes old or ahead, and rejects beyond, both ways', () => {
    const at = (offsetS: number) => String(Number(TS) + offsetS);
    expect(verifySlackRequest(BODY, headers(at(-300)), SECRET, NOW).ok).toBe(true);
    expect(verifySlackRequest(BODY, headers(at(300)), SECRET, NOW).ok).toBe(true);
    const old = verifySlackRequest(BODY, headers(at(-301)), SECRET, NOW);
    expect(old).toEqual({ ok: false, reason: expect.stringMatching(/301s old/) });
    const future = verifySlackRequest(BODY, headers(at(301)), SECRET, NOW);
    expect(future).toEqual({ ok: false, reason: expect.stringMatching(/301s in the future/) });
  });

  it('rejects a tampered body, a wrong secret and a signature over another timestamp', () => {
    const tampered = Buffer.from(BODY.toString().replace('block_actions', 'block_actionz'));
    expect(verifySlackRequest(tampered, headers(), SECRET, NOW)).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(verifySlackRequest(BODY, headers(TS, sign(BODY, TS, 'other-secret')), SECRET, NOW)).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(verifySlackRequest(BODY, headers(TS, sign(BODY, String(Number(TS) - 1))), SECRET, NOW)).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it('names missing and malformed headers, and never echoes the secret or the expected signature', () => {
    const expected = sign(BODY, TS);
    const results = [
      verifySlackRequest(BODY, { 'x-slack-signature': expected }, SECRET, NOW),
      verifySlackRequest(BODY, { 'x-slack-request-timestamp': TS }, SECRET, NOW),
      verifySlackRequest(BODY, headers('12ab'), SECRET, NOW),
      verifySlackRequest(BODY, headers(TS, 'v1=abcd'), SECRET, NOW),
      verifySlackRequest(BODY, headers(TS, `v0=${'z'.repeat(64)}`), SECRET, NOW),
      verifySlackRequest(BODY, headers(), '', NOW),
    ];
    expect(results.map((r) => (r.ok ? 'ok' : r.reason))).toEqual([
      'missing X-Slack-Request-Timestamp header',
      'missing X-Slack-Signature header',
      'malformed X-Slack-Request-Timestamp header: expected Unix seconds',
      'malformed X-Slack-Signature header: expected v0=<64 hex digits>',
      'malformed X-Slack-Signature header: expected v0=<64 hex digits>',
      'no Slack signing secret configured',
    ]);
    for (const r of results) {
      expect(JSON.stringify(r)).not.toContain(SECRET);
      expect(JSON.stringify(r)).not.toContain(expected.slice(3));
    }
  });
});

type ActionsBlock = Extract<SlackBlock, { type: 'actions' }>;
const actionsOf = (blocks: SlackBlock[]): ActionsBlock | undefined => blocks.find((b): b is ActionsBlock => b.type === 'actions');
/** Every button allowed (deliver/slack/buttons.ts decides which; tested in slack-buttons.test.ts). */
const ALL = new Set(SLACK_ACTION_KINDS);

describe('alert message buttons', () => {
  it('a firing message has Sync now, Silence 1h, Silence 1d and Acknowledge, carrying only group key and seq', () => {
    const { blocks } = renderSlackMessage(makeNotification({ seq: 3 }), undefined, ALL);
    const actions = actionsOf(blocks);
    expect(actions?.block_id).toBe(SLACK_ACTIONS_BLOCK_ID);
    expect(actions?.elements.map((e) => [e.action_id, e.text.text])).toEqual([
      ['meshdrift.sync', 'Sync now'],
      ['meshdrift.silence.1h', 'Silence 1h'],
      ['meshdrift.silence.1d', 'Silence 1d'],
      ['meshdrift.ack', 'Acknowledge'],
    ]);
    for (const e of actions?.elements ?? []) {
      expect(JSON.parse(e.value)).toEqual({ g: 'g1', s: 3 });
      expect(decodeButtonValue(e.value)).toEqual({ g: 'g1', s: 3 });
    }
    // The footer stays last.
    expect(blocks.at(-1)?.type).toBe('context');
  });

  it('without any allowed button there is no actions block (and the divider is back)', () => {
    const { blocks } = renderSlackMessage(makeNotification());
    expect(actionsOf(blocks)).toBeUndefined();
    expect(blocks[2]?.type).toBe('divider');
    const onlySilence = actionsOf(renderSlackMessage(makeNotification(), undefined, new Set(['silence'] as const)).blocks);
    expect(onlySilence?.elements.map((e) => e.action_id)).toEqual(['meshdrift.silence.1h', 'meshdrift.silence.1d']);
  });

  it('a resolved message has no buttons', () => {
    const resolved = makeNotification({
      status: 'resolved',
      reason: 'resolved',
      seq: 2,
      firing: [],
      resolved: [makeTrackedFinding('allow-checkout', { status: 'resolved' })],
    });
    expect(actionsOf(renderSlackMessage(resolved, undefined, ALL).blocks)).toBeUndefined();
  });

  it('offers Sync now only for Argo CD Applications and Flux Kustomizations/HelmReleases', () => {
    const ids = (tool: 'argocd' | 'flux', kind: string) =>
      actionsOf(
        renderSlackMessage(makeNotification({ labels: { cluster: 'c', tool, owner: { kind, namespace: 'ns', name: 'o' }, project: '' } }), undefined, ALL)
          .blocks,
      )?.elements.map((e) => e.action_id);
    expect(ids('argocd', 'Application')).toContain(SLACK_ACTION_IDS.sync);
    expect(ids('flux', 'Kustomization')).toContain(SLACK_ACTION_IDS.sync);
    expect(ids('flux', 'HelmRelease')).toContain(SLACK_ACTION_IDS.sync);
    expect(ids('argocd', 'ApplicationSet')).toEqual(['meshdrift.silence.1h', 'meshdrift.silence.1d', 'meshdrift.ack']);
    expect(ids('flux', 'GitRepository')).not.toContain(SLACK_ACTION_IDS.sync);
  });

  it('stays within budgets with 500 long findings, leaving room for the action log', () => {
    const firing = Array.from({ length: 500 }, (_, i) =>
      makeTrackedFinding(`${'very-long-generated-name-'.repeat(12)}${i}`, { detail: 'x'.repeat(400), resource: { namespace: `team-${'n'.repeat(50)}` } }),
    );
    const { text, blocks } = renderSlackMessage(makeNotification({ firing }), undefined, ALL);
    expect(actionsOf(blocks)).toBeDefined();
    expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks - 1);
    expect(JSON.stringify(blocks).length + text.length).toBeLessThan(SLACK_LIMITS.message);
    // Ten maximal action-log lines still fit.
    let after: unknown[] = blocks;
    for (let i = 0; i < 12; i++) after = withActionLog(after, actionLogLine({ kind: 'sync' }, 'U0123456789', 'failed', 'e'.repeat(500)));
    expect(after.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    expect(JSON.stringify(after).length + text.length).toBeLessThan(SLACK_LIMITS.message);
  });
});

describe('action helpers', () => {
  it('parses our action ids and nothing else', () => {
    expect(parseActionId('meshdrift.silence.1h')).toEqual({ kind: 'silence', durationMs: 3_600_000, durationLabel: '1h' });
    expect(parseActionId('meshdrift.silence.1d')).toEqual({ kind: 'silence', durationMs: 86_400_000, durationLabel: '1d' });
    expect(parseActionId('meshdrift.sync')).toEqual({ kind: 'sync' });
    expect(parseActionId('meshdrift.ack')).toEqual({ kind: 'acknowledge' });
    expect(parseActionId('other.app')).toBeNull();
  });

  it('rejects button values that are not ours', () => {
    expect(decodeButtonValue(encodeButtonValue('abc', 2))).toEqual({ g: 'abc', s: 2 });
    for (const v of [undefined, '', 'abc', '{"g":""}', '{"g":"a","s":0}', '[1]']) expect(decodeButtonValue(v)).toBeNull();
  });

  it("silence matchers match the group's findings and not another owner's", () => {
    const specs = silenceMatchersFor({ cluster: 'prod-eu', owner: { kind: 'Application', namespace: 'argocd', name: 'payments' } });
    const ms = specs.map(compileMatcher);
    const labels = { cluster: 'prod-eu', owner_kind: 'Application', owner_namespace: 'argocd', owner: 'payments', namespace: 'x' };
    expect(matchesAll(ms, labels)).toBe(true);
    expect(matchesAll(ms, { ...labels, owner: 'payments-v2' })).toBe(false);
    expect(matchesAll(ms, { ...labels, cluster: 'prod-us' })).toBe(false);
  });

  it("silences what the group's silence link does when the route groups by labels: the group, every owner in it", () => {
    const labels = {
      cluster: 'prod-eu',
      owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
      groupBy: { cluster: 'prod-eu', namespace: 'payments' },
    };
    const specs = silenceMatchersFor(labels);
    expect(specs).toEqual(groupMatchers(labels));
    const ms = specs.map(compileMatcher);
    const finding = { cluster: 'prod-eu', owner_kind: 'Application', owner_namespace: 'argocd', owner: 'payments-v2', namespace: 'payments' };
    // Another owner's finding in the same group (same namespace) is silenced with it; another namespace's is not.
    expect(matchesAll(ms, finding)).toBe(true);
    expect(matchesAll(ms, { ...finding, namespace: 'checkout' })).toBe(false);
  });

  it('adds who-did-what lines before the footer, newest last, at most ten', () => {
    const { blocks } = renderSlackMessage(makeNotification());
    const once = withActionLog(blocks, actionLogLine({ kind: 'silence', durationMs: 1, durationLabel: '1h' }, 'U123ABC', 'done'));
    expect(once).toHaveLength(blocks.length + 1);
    const log = once.at(-2) as { block_id: string; elements: Array<{ text: string }> };
    expect(log.block_id).toBe(SLACK_ACTION_LOG_BLOCK_ID);
    expect(log.elements.map((e) => e.text)).toEqual([':no_bell: Silenced for 1h by <@U123ABC>']);
    let many: unknown[] = once;
    for (let i = 0; i < 11; i++) many = withActionLog(many, actionLogLine({ kind: 'acknowledge' }, `U00000${i}X`, 'done'));
    expect(many).toHaveLength(blocks.length + 1);
    const last = many.at(-2) as { elements: Array<{ text: string }> };
    expect(last.elements).toHaveLength(10);
    expect(last.elements.at(-1)?.text).toBe(':eyes: Acknowledged by <@U0000010X>');
    // A user id that is not one never becomes a mention or markup.
    expect(actionLogLine({ kind: 'acknowledge' }, '<!channel>', 'done')).toBe(':eyes: Acknowledged by &lt;!channel&gt;');
  });
});
