import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedisSlackMessageStore } from '../../src/deliver/slack/message-store.ts';
import { createSlackNotifier } from '../../src/deliver/slack/notifier.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { makeNotification, makeTrackedFinding } from '../support/notifications.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

// Issue #12 item 13, end to end: text from the cluster with formatting, a newline and a fake line,
// a mention, bidi and zero-width characters, as the Slack Web API receives it.

const HOSTILE = '*bold*\n:rotating_light: *FAKE LINE* <!here> \u202Eevil\u200Bzw\uFEFF';

let redis: Redis;
let slack: FakeSlack;
let prefix: string;

beforeAll(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  await redis.ping();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(async () => {
  prefix = testPrefix('slack-text');
  slack = await startFakeSlack();
});
afterEach(async () => {
  await slack.close();
  await deleteKeys(redisUrl(), prefix);
});

describe('hostile text through the Slack notifier and the fake Slack', () => {
  it('arrives neutralised: no formatting, no extra line, no mention, nothing hidden', async () => {
    const notifier = createSlackNotifier({ token: 'xoxb-test', channel: 'C0TEXT0001', apiUrl: slack.url, store: createRedisSlackMessageStore(redis, prefix) });
    const n = makeNotification({
      groupKey: `g-${randomUUID()}`,
      labels: { cluster: `prod${HOSTILE}`, tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: 'payments' }, project: HOSTILE },
      firing: [makeTrackedFinding(`vs${HOSTILE}`, { fingerprint: 'fp-hostile', detail: HOSTILE })],
    });
    await expect(notifier.send(n)).resolves.toEqual({ ok: true });

    const [message] = [...slack.messages.values()];
    expect(message).toBeDefined();
    const wire = JSON.stringify({ text: message?.text, blocks: message?.blocks });
    expect(wire).not.toMatch(/[\u202A-\u202E\u2066-\u2069\u200B-\u200D\u2060\uFEFF]/);
    expect(wire).not.toContain('<!here>');
    // Outside code spans and plain_text, no `*FAKE LINE*` bold and no line starting with the fake one.
    const mrkdwn = [
      message?.text ?? '',
      ...[...JSON.stringify(message?.blocks).matchAll(/"type":"mrkdwn","text":"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string),
    ].map((t) => t.replace(/`[^`\n]*`/g, ''));
    expect(mrkdwn.join('\n')).toContain('FAKE LINE');
    for (const t of mrkdwn) {
      expect(t).not.toContain('*FAKE LINE*');
      expect(t).not.toContain('*bold*');
      expect(t).not.toMatch(/(^|\n):rotating_light: /);
    }
  });
});
