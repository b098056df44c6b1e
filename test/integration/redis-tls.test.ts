import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { freePort } from '../../src/cli/redis-finder.ts';
import { createLogger } from '../../src/log.ts';
import { selfSignedCert } from '../support/admission.ts';
import { meshAppBody } from '../support/argocd.ts';
import { testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService } from '../support/service.ts';

// Issue #20: rediss:// with the CA and a client certificate from REDIS_TLS_*_FILE, against a real
// redis-server that only speaks TLS and requires client certificates.
let redis: ChildProcess | undefined;
let port = 0;
let cert: ReturnType<typeof selfSignedCert>;
let svc: (App & { url: string }) | undefined;
const prefix = testPrefix('tls');

beforeAll(async () => {
  cert = selfSignedCert(undefined, 'meshdrift-redis');
  port = await freePort();
  redis = spawn(
    'redis-server',
    ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'].concat(
      // The self-signed certificate is the server's, the CA, and the client's.
      ['--tls-cert-file', cert.certFile, '--tls-key-file', cert.keyFile, '--tls-ca-cert-file', cert.certFile, '--tls-auth-clients', 'yes'],
    ),
    { stdio: 'ignore' },
  );
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    10_000,
    'redis-server listening with TLS',
  );
});

afterAll(async () => {
  await svc?.stop();
  redis?.kill('SIGKILL');
  rmSync(cert.dir, { recursive: true, force: true });
});

describe('Redis over TLS', () => {
  it('takes webhooks with rediss:// and the CA and client certificate files', async () => {
    svc = await startService({
      redisUrl: `rediss://127.0.0.1:${port}`,
      prefix,
      env: { REDIS_TLS_CA_FILE: cert.certFile, REDIS_TLS_CERT_FILE: cert.certFile, REDIS_TLS_KEY_FILE: cert.keyFile },
    });
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
    expect((await postArgocd(svc.url, meshAppBody())).status).toBe(202);
  });

  it('does not start without the CA (the server certificate is not trusted)', async () => {
    let logs = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    });
    const refused = await startService({
      redisUrl: `rediss://127.0.0.1:${port}`,
      prefix: testPrefix('tls-noca'),
      log: createLogger('warn', sink),
      env: { REDIS_TLS_CERT_FILE: cert.certFile, REDIS_TLS_KEY_FILE: cert.keyFile },
    }).then(
      async (app) => {
        await app.stop();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(Error);
    // Each connection says why (redis.ts logs every connection error).
    expect(logs).toMatch(/"connection":"client".*self-signed certificate/);
  }, 30_000);
});
