import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody } from '../support/argocd.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startReplica, type Replica } from '../support/replica.ts';
import { ARGOCD_TOKEN, SLACK_TOKEN } from '../support/service.ts';

/**
 * Issue #18: the real amtool (Debian's prometheus-alertmanager, /usr/bin/amtool) against a running
 * `meshdrift serve` (127.0.0.1, real Redis, fake Slack), through /api/v2 with the API token:
 * alert query, silence add/query/expire with matchers bare and quoted (amtool's own parser), each
 * checked by what meshdrift then sends; and `config routes show/test`, which amtool reads from
 * GET /api/v2/status (meshdrift's routing tree as an Alertmanager config). CI installs amtool
 * (.ci/install-packages); locally, without it, this file skips.
 */
const AMTOOL = '/usr/bin/amtool';
const SKIP = !existsSync(AMTOOL) && process.env.CI !== 'true';
const API_TOKEN = 'api-token-amtool-DO-NOT-LOG';

/** Every channel message as it stands now (chat.update edits them in place), both receivers. */
const sent = (slack: FakeSlack): string => JSON.stringify([...slack.messages.values()].map((m) => m.blocks));

describe.skipIf(SKIP)('amtool against meshdrift', () => {
  let slack: FakeSlack;
  let replica: Replica | undefined;
  let dir: string;
  const prefix = testPrefix('amtool');

  /**
   * Runs amtool against the replica; its exit code, stdout (`out`) and stderr (never throws on a
   * non-zero exit). amtool warns on stderr that its version and meshdrift's differ.
   */
  function amtool(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve) => {
      execFile(
        AMTOOL,
        [`--alertmanager.url=${replica?.url}`, `--http.config.file=${dir}/http.yml`, '--timeout=20s', ...args],
        { timeout: 30_000 },
        (error, out, err) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err }),
      );
    });
  }

  beforeAll(async () => {
    if (!existsSync(AMTOOL)) throw new Error(`${AMTOOL} is missing; CI must install it: run .ci/install-packages (apt-get install prometheus-alertmanager)`);
    slack = await startFakeSlack({ token: SLACK_TOKEN });
    dir = mkdtempSync(`${tmpdir()}/meshdrift-amtool-`);
    writeFileSync(
      `${dir}/p.yaml`,
      [
        'receivers:',
        '  - { name: chat, slack: { channel: "#mesh-drift" } }',
        '  - { name: pager, slack: { channel: "#pager" } }',
        'route:',
        '  receiver: chat',
        '  group_wait: 200ms',
        '  group_interval: 500ms',
        '  routes:',
        `    - { matchers: ['{severity="critical", kind=~"Auth.*"}'], receiver: pager, continue: true }`,
        '',
      ].join('\n'),
    );
    // amtool's HTTP client configuration: the bearer token meshdrift's API wants.
    writeFileSync(`${dir}/http.yml`, `authorization:\n  credentials: ${API_TOKEN}\n`);
    replica = await startReplica('amtool', {
      REDIS_URL: redisUrl(),
      MESHDRIFT_KEY_PREFIX: prefix,
      MESHDRIFT_POLICY: `${dir}/p.yaml`,
      MESHDRIFT_API_TOKEN: API_TOKEN,
      MESHDRIFT_ARGOCD_TOKEN: ARGOCD_TOKEN,
      MESHDRIFT_ALLOW_UNAUTHENTICATED: 'flux',
      MESHDRIFT_CLUSTER: 'test-cluster',
      SLACK_BOT_TOKEN: SLACK_TOKEN,
      SLACK_CHANNEL: '#mesh-drift',
      SLACK_API_URL: slack.url,
    });
  }, 60_000);

  afterAll(async () => {
    await replica?.stop();
    await slack?.close();
    await deleteKeys(redisUrl(), prefix);
  });

  it('needs the API token', async () => {
    const r = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile(AMTOOL, [`--alertmanager.url=${replica?.url}`, 'silence', 'query'], { timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }),
      ),
    );
    expect(r.code).not.toBe(0);
  });

  it('silence add (bare and quoted matchers) mutes the next notification; expire, and the next one is sent', async () => {
    const bare = await amtool(
      'silence',
      'add',
      'kind=AuthorizationPolicy',
      'namespace=payments',
      '--comment=planned authz change',
      '--duration=1h',
      '--author=sre@example.com',
    );
    expect(bare.code, bare.err).toBe(0);
    const quoted = await amtool('silence', 'add', 'name=~"legacy-psp.*"', '--comment=retiring it', '--duration=1h');
    expect(quoted.code, quoted.err).toBe(0);
    const [bareId, quotedId] = [bare.out.trim(), quoted.out.trim()];
    expect(bareId).toMatch(/^[0-9a-f-]{36}$/);

    const query = await amtool('silence', 'query', '-o', 'json');
    const silences = JSON.parse(query.out) as Array<{ id: string; createdBy: string; matchers: Array<{ name: string; value: string; isRegex: boolean }> }>;
    expect(silences.find((s) => s.id === bareId)).toMatchObject({
      createdBy: 'sre@example.com',
      matchers: expect.arrayContaining([{ name: 'kind', value: 'AuthorizationPolicy', isRegex: false, isEqual: true }]),
    });
    expect(silences.find((s) => s.id === quotedId)?.matchers).toEqual([{ name: 'name', value: 'legacy-psp.*', isRegex: true, isEqual: true }]);
    const byFilter = await amtool('silence', 'query', '-q', 'kind=AuthorizationPolicy');
    expect(byFilter.out.trim().split('\n')).toEqual([bareId]);

    expect(
      (
        await fetch(`${replica?.url}/webhooks/argocd`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ARGOCD_TOKEN}` },
          body: JSON.stringify(meshAppBody()),
        })
      ).status,
    ).toBe(202);
    await waitFor(() => slack.messages.size >= 1, 15_000, 'the first message');
    expect(sent(slack)).toContain('VirtualService');
    // The pager route's only finding is silenced: past its group_wait (200 ms), still nothing for it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(sent(slack)).not.toContain('payments-allow-frontend');
    expect(sent(slack)).not.toContain('legacy-psp-api');

    // amtool alert query: unsilenced by default; -s shows the silenced ones too.
    const active = await amtool('alert', 'query');
    expect(active.code, active.err).toBe(0);
    expect(active.out).toContain('VirtualService.networking.istio.io payments/payments drifted');
    expect(active.out).not.toContain('payments-allow-frontend');
    const all = await amtool('alert', 'query', '--silenced', 'kind=AuthorizationPolicy');
    expect(all.out).toContain('payments-allow-frontend');
    const critical = await amtool('alert', 'query', 'severity=~"crit.*"', '-o', 'json');
    expect((JSON.parse(critical.out) as Array<{ labels: Record<string, string> }>).every((a) => a.labels['severity'] === 'critical')).toBe(true);

    expect((await amtool('silence', 'expire', bareId)).code).toBe(0);
    await waitFor(() => sent(slack).includes('payments-allow-frontend'), 15_000, 'the finding after its silence expired');
    expect(sent(slack)).not.toContain('legacy-psp-api');
    expect((await amtool('silence', 'expire', quotedId)).code).toBe(0);
    await waitFor(() => sent(slack).includes('legacy-psp-api'), 15_000, 'the second finding after its silence expired');
    expect((await amtool('silence', 'query', '-q')).out.trim()).toBe('');
    expect((await amtool('silence', 'query', '--expired', '-q')).out).toContain(bareId);
  }, 90_000);

  it('config routes show and test read the routing tree from /api/v2/status', async () => {
    const show = await amtool('config', 'routes', 'show');
    expect(show.code, show.err).toBe(0);
    expect(show.out).toMatch(/receiver: chat/);
    expect(show.out).toMatch(/\{kind=~"Auth\.\*",severity="critical"\}\s+continue: true\s+receiver: pager/);
    // The pager route matches, so its parent does not take the alert (continue only goes on to siblings).
    const pager = await amtool('config', 'routes', 'test', '--verify.receivers=pager', 'severity=critical', 'kind=AuthorizationPolicy');
    expect(pager.code, pager.err).toBe(0);
    expect(pager.out.trim()).toBe('pager');
    const wrong = await amtool('config', 'routes', 'test', '--verify.receivers=pager', 'severity=low');
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toMatch(/^chat\nWARNING: Expected receivers did not match resolved receivers/);
  });
});
