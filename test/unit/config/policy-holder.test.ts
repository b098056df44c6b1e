import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../../src/config/env.ts';
import { createPolicyHolder, PolicyLoadError } from '../../../src/config/policy-holder.ts';
import { createConsoleNotifier } from '../../../src/deliver/console/notifier.ts';
import type { Notifier } from '../../../src/deliver/notifier.ts';
import { createLogger } from '../../../src/log.ts';
import { createMetrics } from '../../../src/metrics.ts';

const policy = (receivers: string[]) =>
  `receivers:\n${receivers.map((r) => `  - { name: ${r}, console: {} }`).join('\n')}\nroute: { receiver: ${receivers[0] ?? 'x'} }\n`;

async function holderFor(file: string | undefined, processEnv: Record<string, string> = {}) {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const env = loadEnv({ ...processEnv, ...(file ? { MESHDRIFT_POLICY: file } : {}) });
  const holder = await createPolicyHolder({
    env,
    processEnv,
    buildNotifiers: (receivers) => new Map<string, Notifier>(receivers.map((r) => [r.name, createConsoleNotifier()])),
    metrics,
    log: createLogger('silent'),
    now: () => 1_700_000_000_000,
  });
  const metric = async (name: string) => (await metrics.registry.getSingleMetricAsString(name)).split('\n').find((l) => l.startsWith(name));
  return { holder, metric };
}

describe('policy holder', () => {
  it('without a file: the built-in defaults, console receiver; Slack when a token is set', async () => {
    expect([...(await holderFor(undefined)).holder.notifiers().keys()]).toEqual(['console']);
    const { holder } = await holderFor(undefined, { SLACK_BOT_TOKEN: 'x', SLACK_CHANNEL: '#c' });
    expect(holder.current().source).toBe('built-in defaults');
    expect([...holder.notifiers().keys()]).toEqual(['slack']);
  });

  it('refuses to start on an invalid file, naming file:line:col', async () => {
    const dir = mkdtempSync(`${tmpdir()}/meshdrift-policy-`);
    writeFileSync(`${dir}/p.yaml`, 'receivers: []\nroute: { receiver: x }\n');
    await expect(holderFor(`${dir}/p.yaml`)).rejects.toThrow(PolicyLoadError);
    await expect(holderFor(`${dir}/p.yaml`)).rejects.toThrow(`${dir}/p.yaml:1:12: receivers: define at least one receiver`);
  });

  it('reloads a good file, keeps the old policy on a bad one, and says so in metrics', async () => {
    const dir = mkdtempSync(`${tmpdir()}/meshdrift-policy-`);
    const file = `${dir}/p.yaml`;
    writeFileSync(file, policy(['a']));
    const { holder, metric } = await holderFor(file);
    expect(await metric('meshdrift_policy_reload_success')).toBe('meshdrift_policy_reload_success 1');
    expect(await metric('meshdrift_policy_last_reload_timestamp_seconds')).toBe('meshdrift_policy_last_reload_timestamp_seconds 1700000000');

    writeFileSync(file, policy(['a', 'b']));
    expect(await holder.reload()).toBe(true);
    expect([...holder.notifiers().keys()]).toEqual(['a', 'b']);

    writeFileSync(file, 'route: [oops');
    expect(await holder.reload()).toBe(false);
    expect([...holder.notifiers().keys()]).toEqual(['a', 'b']);
    expect(await metric('meshdrift_policy_reload_success')).toBe('meshdrift_policy_reload_success 0');
  });

  it('a receiver whose secret is missing fails the load, naming the variable only', async () => {
    const dir = mkdtempSync(`${tmpdir()}/meshdrift-policy-`);
    writeFileSync(`${dir}/p.yaml`, 'receivers:\n  - { name: pd, pagerduty: { routing_key_env: PD_KEY } }\nroute: { receiver: pd }\n');
    await expect(holderFor(`${dir}/p.yaml`)).rejects.toThrow('needs the environment variable PD_KEY, which is not set');
  });

  it('reloads when the file changes (watch)', async () => {
    const dir = mkdtempSync(`${tmpdir()}/meshdrift-policy-`);
    const file = `${dir}/p.yaml`;
    writeFileSync(file, policy(['a']));
    const { holder } = await holderFor(file);
    holder.watch();
    try {
      writeFileSync(file, policy(['c']));
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !holder.notifiers().has('c')) await new Promise((r) => setTimeout(r, 50));
      expect([...holder.notifiers().keys()]).toEqual(['c']);
    } finally {
      holder.close();
    }
  });
});
