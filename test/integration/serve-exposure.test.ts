import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { redisUrl, testPrefix, deleteKeys } from '../support/redis.ts';
import { startReplica, type Replica } from '../support/replica.ts';

/**
 * `meshdrift serve` as a process, configured by environment alone (issue #12): it refuses to run
 * an open webhook or API nobody asked for, refuses placeholder secrets, and says at every start
 * what is open and how each endpoint is protected, without a secret.
 */

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

/** Runs `serve` until it exits (it should, at once); its exit code and stderr. */
function serveUntilExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', REDIS_URL: redisUrl(), MESHDRIFT_KEY_PREFIX: testPrefix('exposure'), ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not exit:\n${stderr.slice(-2000)}`));
    }, 45_000); // it exits in about 1 s; 7 s seen on a loaded 2-core machine
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

const API_TOKEN = 'api-token-exposure-DO-NOT-LOG';
const ARGOCD = 'argocd-token-exposure-DO-NOT-LOG';
const FLUX = 'flux-hmac-key-exposure-DO-NOT-LOG';

describe('meshdrift serve and what it leaves open', () => {
  const replicas: Replica[] = [];
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const r of replicas) await r.stop();
    for (const p of prefixes) await deleteKeys(redisUrl(), p);
  });

  it('refuses to start with no credentials and no MESHDRIFT_ALLOW_UNAUTHENTICATED, naming every open endpoint', async () => {
    const { code, stderr } = await serveUntilExit({});
    expect(code).toBe(1);
    expect(stderr).toContain('meshdrift: refusing to start with unauthenticated endpoints:');
    expect(stderr).toContain('/webhooks/argocd would be open to anyone who reaches the port');
    expect(stderr).toContain('/webhooks/flux would be open to anyone who reaches the port');
    expect(stderr).toContain('/api/v1 would be open to anyone who reaches the port');
  });

  it('refuses to start with only the API open, and says how to allow it', async () => {
    const { code, stderr } = await serveUntilExit({ MESHDRIFT_ARGOCD_TOKEN: ARGOCD, MESHDRIFT_FLUX_HMAC_KEY: FLUX });
    expect(code).toBe(1);
    expect(stderr).toMatch(/\/api\/v1 would be open .*: set MESHDRIFT_API_TOKEN, or add "api" to MESHDRIFT_ALLOW_UNAUTHENTICATED/);
    expect(stderr).not.toContain('/webhooks/argocd would be open');
    for (const secret of [ARGOCD, FLUX]) expect(stderr).not.toContain(secret);
  });

  it('refuses placeholder secrets, naming the variable and never the value', async () => {
    const { code, stderr } = await serveUntilExit({
      MESHDRIFT_API_TOKEN: 'REPLACE_ME_API_TOKEN',
      MESHDRIFT_ARGOCD_TOKEN: 'short',
      MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true',
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/MESHDRIFT_API_TOKEN: looks like a placeholder/);
    expect(stderr).toMatch(/MESHDRIFT_ARGOCD_TOKEN: is shorter than 16 characters/);
    expect(stderr).not.toContain('REPLACE_ME_API_TOKEN');
    expect(stderr).not.toMatch(/\bshort\b(?! than)/);
  });

  it('starts open when told to, and logs what is open', async () => {
    const prefix = testPrefix('exposure-open');
    prefixes.push(prefix);
    const r = await startReplica('open', { REDIS_URL: redisUrl(), MESHDRIFT_KEY_PREFIX: prefix, MESHDRIFT_ALLOW_UNAUTHENTICATED: 'webhooks,api' });
    replicas.push(r);
    const line = r
      .log()
      .split('\n')
      .find((l) => l.includes('endpoints open without authentication'));
    expect(line).toBeDefined();
    const entry = JSON.parse(line ?? '{}') as { level: unknown; msg: string; open: string[]; endpoints: Record<string, string> };
    expect(entry.msg).toBe('endpoints open without authentication: argocd, flux, api');
    expect(entry.open).toEqual(['argocd', 'flux', 'api']);
    expect(entry.endpoints['/api/v1']).toMatch(/^OPEN: no authentication \(MESHDRIFT_ALLOW_UNAUTHENTICATED\)/);
    // Open, the Argo CD webhook wants a Content-Type (a web page could post without one).
    const noType = await fetch(`${r.url}/webhooks/argocd`, { method: 'POST', body: new Uint8Array(Buffer.from('{}')) });
    expect(noType.status).toBe(415);
  });

  it('with every endpoint authenticated, logs how each is protected, and no secret', async () => {
    const prefix = testPrefix('exposure-closed');
    prefixes.push(prefix);
    const r = await startReplica('closed', {
      REDIS_URL: redisUrl(),
      MESHDRIFT_KEY_PREFIX: prefix,
      MESHDRIFT_ALLOW_UNAUTHENTICATED: '',
      MESHDRIFT_API_TOKEN: API_TOKEN,
      MESHDRIFT_ARGOCD_TOKEN: ARGOCD,
      MESHDRIFT_FLUX_HMAC_KEY: FLUX,
      MESHDRIFT_CLUSTER: 'prod',
    });
    replicas.push(r);
    const line = r
      .log()
      .split('\n')
      .find((l) => l.includes('every write endpoint is authenticated'));
    const entry = JSON.parse(line ?? '{}') as { endpoints: Record<string, string> };
    expect(entry.endpoints).toMatchObject({
      '/webhooks/argocd': 'argocd-token (bearer token from MESHDRIFT_ARGOCD_TOKEN; clusters prod)',
      '/webhooks/flux': 'flux-hmac-key (HMAC signature from MESHDRIFT_FLUX_HMAC_KEY; clusters prod)',
      '/api/v1': 'bearer token from MESHDRIFT_API_TOKEN',
    });
    for (const secret of [API_TOKEN, ARGOCD, FLUX]) expect(r.log()).not.toContain(secret);
  });
});
