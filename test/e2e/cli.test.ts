import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { readFixture } from '../support/fixtures.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { ARGOCD_TOKEN, SLACK_TOKEN, postArgocd } from '../support/service.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = `${ROOT}dist/main.js`;

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(() => {
  // The smoke test runs what `npm start` runs: the CLI as `npm run build` compiles it (tsc, and the
  // files it copies beside the code, such as the web page's stylesheet), on the Node running the tests.
  const build = spawnSync('npm', ['run', 'build', '--silent'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? tmpdir(), npm_config_update_notifier: 'false' },
  });
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
}, 120_000);

describe('the built CLI', () => {
  it('exits 1 naming the bad variable for an invalid environment', async () => {
    const result = await runCli(['serve'], { PORT: 'eighty', MESHDRIFT_GROUP_WAIT: 'soon', SLACK_BOT_TOKEN: 'xoxb-secret-value' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('PORT');
    expect(result.stderr).toContain('MESHDRIFT_GROUP_WAIT');
    expect(result.stderr).toContain('SLACK_CHANNEL');
    expect(result.stderr).not.toContain('xoxb-secret-value');
  });

  it('prints usage and exits 1 for an unknown command', async () => {
    const result = await runCli(['launch'], {});
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('unknown command "launch"');
  });

  describe('serve', () => {
    let slack: FakeSlack;
    let child: ChildProcess;
    let stderr = '';
    const prefix = testPrefix('e2e');
    let url = '';

    beforeAll(async () => {
      slack = await startFakeSlack({ token: SLACK_TOKEN });
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      url = `http://127.0.0.1:${port}`;
      child = spawn(process.execPath, [CLI, 'serve'], {
        env: {
          PATH: process.env.PATH ?? '',
          PORT: String(port),
          HOST: '127.0.0.1',
          REDIS_URL: redisUrl(),
          MESHDRIFT_KEY_PREFIX: prefix,
          MESHDRIFT_ARGOCD_TOKEN: ARGOCD_TOKEN,
          MESHDRIFT_ALLOW_UNAUTHENTICATED: 'flux,api',
          MESHDRIFT_GROUP_WAIT: '200ms',
          SLACK_BOT_TOKEN: SLACK_TOKEN,
          SLACK_CHANNEL: '#mesh-drift',
          SLACK_API_URL: slack.url,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      await waitFor(async () => (await fetch(`${url}/readyz`).catch(() => null))?.status === 200, 15_000, 'meshdrift serve to be ready');
    }, 30_000);

    afterAll(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await slack.close();
      await deleteKeys(redisUrl(), prefix);
    });

    it('takes a webhook to a Slack message, serves metrics, and stops cleanly on SIGTERM', async () => {
      const res = await postArgocd(url, { app: readFixture('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json') });
      expect(res.status).toBe(202);
      await waitFor(() => slack.calls.some((c) => c.method === 'chat.postMessage'), 15_000, 'the Slack message');
      // The worker counts the delivery once Slack has answered: poll rather than race it.
      let metrics = '';
      await waitFor(
        async () => {
          metrics = await (await fetch(`${url}/metrics`)).text();
          return metrics.includes('meshdrift_notifications_total{receiver="slack",type="slack",outcome="success"} 1');
        },
        10_000,
        'the delivery metric',
      );
      expect(metrics).toContain('meshdrift_signals_total{source="argocd-webhook",outcome="tracked"} 1');
      expect(metrics).toContain('meshdrift_notifications_total{receiver="slack",type="slack",outcome="success"} 1');
      expect(metrics).toContain('meshdrift_process_resident_memory_bytes');
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // JSON logs on stderr; the secrets never appear in them.
      expect(stderr).toContain('"msg":"meshdrift started"');
      expect(stderr).not.toContain(SLACK_TOKEN);
      expect(stderr).not.toContain(ARGOCD_TOKEN);
    }, 30_000);
  });
});
