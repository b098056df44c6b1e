import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { groupRedisKey } from '../../src/track/keys.ts';
import { meshAppBody } from '../support/argocd.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { ARGOCD_TOKEN, startService } from '../support/service.ts';

// Issue #12 item 10, in-process: a stop() that begins while a webhook is on its way finishes that
// webhook (202, committed), answers the next request on the same kept-alive connection with 503 +
// Connection: close, and refuses new connections.
let svc: (App & { url: string }) | undefined;
let prefix = '';
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
  await deleteKeys(redisUrl(), prefix);
});

/** Reads HTTP/1.1 responses (Content-Length bodies) off a raw socket as they come. */
function responses(socket: Socket): { list: Array<{ status: number; headers: string; body: string }> } {
  const out = { list: [] as Array<{ status: number; headers: string; body: string }> };
  let buffer = '';
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffer.slice(0, end);
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      out.list.push({ status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body: buffer.slice(end + 4, end + 4 + length) });
      buffer = buffer.slice(end + 4 + length);
    }
  });
  return out;
}

describe('graceful stop', () => {
  it('finishes the request in flight, answers the next one on its connection 503 + Connection: close, refuses new connections', async () => {
    prefix = testPrefix('graceful');
    svc = await startService({ redisUrl: redisUrl(), prefix, env: { MESHDRIFT_GROUP_WAIT: '1h', MESHDRIFT_SHUTDOWN_GRACE: '15s' } });
    const app = svc;
    const { port } = app.address();
    const body = Buffer.from(JSON.stringify(meshAppBody()));
    const head = (length: number) =>
      `POST /webhooks/argocd HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer ${ARGOCD_TOKEN}\r\nContent-Length: ${length}\r\nConnection: keep-alive\r\n\r\n`;
    const socket = connect(port, '127.0.0.1');
    const got = responses(socket);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // Half the body: the request is in flight.
    socket.write(head(body.length));
    socket.write(body.subarray(0, 100));
    await waitFor(() => app.inFlight().requests === 1, 10_000, 'the request to be in flight');

    let stopped = false;
    const stopping = app.stop().then(() => (stopped = true));
    // Listening no more: a new connection is refused.
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const probe = connect(port, '127.0.0.1');
          probe.once('connect', () => (probe.destroy(), resolve(false)));
          probe.once('error', () => resolve(true));
        }),
      10_000,
      'new connections to be refused',
    );
    expect(stopped).toBe(false); // still waiting for the request in flight

    // The rest of the body, and a second request pipelined on the same connection.
    socket.write(Buffer.concat([body.subarray(100), Buffer.from(head(body.length)), body]));
    await waitFor(() => got.list.length === 2, 10_000, 'both answers').catch((e: unknown) => {
      console.log(JSON.stringify(got.list));
      throw e;
    });
    const [first, second] = got.list;
    expect(first?.status).toBe(202);
    const groups = (JSON.parse(first?.body ?? '{}') as { groups?: string[] }).groups ?? [];
    expect(groups.length).toBeGreaterThan(0);
    expect(second?.status).toBe(503);
    expect(second?.headers).toContain('connection: close');
    await stopping;
    expect(stopped).toBe(true);
    socket.destroy();
    // The first request is committed (Redis checked with a client of the test's own).
    const { Redis } = await import('ioredis');
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    try {
      for (const g of groups) expect(await redis.exists(groupRedisKey(prefix, g))).toBe(1);
    } finally {
      redis.disconnect();
    }
    svc = undefined;
  });
});
