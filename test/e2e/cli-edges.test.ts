import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from '../support/cli.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

// issue #19 item 7: the `meshdrift` command as a user meets it (bin/meshdrift.cjs, the package.json bin).

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('meshdrift <command> --help and --version: no side effect', () => {
  let taken: Server;
  let port = 0;
  let redisPort = 0;

  beforeAll(async () => {
    redisPort = await deadPort();
    // A port held by this test: a `serve` that tried to start would fail on it (exit 1), or on the dead Redis.
    taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    port = (taken.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => taken.close(() => r())));

  const env = () => ({ PORT: String(port), HOST: '127.0.0.1', REDIS_URL: `redis://127.0.0.1:${redisPort}`, MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true' });

  it.each(['serve', 'demo', 'validate', 'explain'])('%s --help, -h and --version', async (command) => {
    const [help, short, version] = await Promise.all([
      runBin([command, '--help'], env()),
      runBin([command, 'some-file.yaml', '-h'], env()),
      runBin([command, '--version'], env()),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^usage: meshdrift ${command}\\b`));
    // Nothing ran: no log line, no demo step, no "file not found", no start error.
    expect(help.stderr).toBe('');
    expect([short.code, short.stdout, short.stderr]).toEqual([0, help.stdout, '']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^meshdrift 0\.\d+\.\d+ \((commit [0-9a-f]{12}, )?Node 24\.\d+\.\d+\)\n$/);
    expect(version.stderr).toBe('');
  });

  it('meshdrift --version prints the package version; help <command> the command help', async () => {
    const pkg = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };
    const r = await runBin(['--version']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout.startsWith(`meshdrift ${pkg.version} (`)).toBe(true);
    const help = await runBin(['help', 'validate']);
    expect(help.stdout).toMatch(/^usage: meshdrift validate <policy.yaml>/);
  });
});

describe.concurrent('meshdrift serve: one line and exit 1 when it cannot start', () => {
  it('with Redis not answering: names where (no credentials) and what to do', async () => {
    const redisPort = await deadPort();
    const r = await runBin(['serve'], {
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL: `redis://meshdrift:hunter2@127.0.0.1:${redisPort}`,
      MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true',
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`meshdrift: cannot reach Redis at redis://127.0.0.1:${redisPort} (connection refused); start Redis or set REDIS_URL\n`);
  });

  it('with its port taken', async () => {
    const prefix = testPrefix('cli-port');
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const { port } = taken.address() as { port: number };
    try {
      // The test Redis and a prefix of its own: should serve get as far as Redis (a regression), its keys are deleted.
      const env = { PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redisUrl(), MESHDRIFT_KEY_PREFIX: prefix, MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true' };
      const r = await runBin(['serve'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`meshdrift: cannot listen on 127.0.0.1:${port} (already in use); stop what uses it or set PORT\n`);
    } finally {
      await deleteKeys(redisUrl(), prefix);
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });
});

describe('meshdrift validate: every mistake of a file in one run', () => {
  it('7 mistakes of the schema and cross-reference layers: 7 lines and the count, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshdrift-validate-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(
      file,
      [
        'reciever_defaults: {}', // unknown key
        'receivers:',
        '  - { name: log, console: {} }',
        '  - { name: chat, slack: {} }', // no channel
        '  - { name: log, console: {} }', // defined twice
        'route:',
        '  receiver: log',
        '  group_wait: later', // not a duration
        '  routes:',
        '    - { receiver: nope, mute_time_intervals: [nights] }', // undefined receiver, undefined interval
        `    - { receiver: log, matchers: ['team=~"(("'] }`, // bad matcher
        '',
      ].join('\n'),
    );
    try {
      const r = await runBin(['validate', file]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(8);
      expect(lines.slice(0, 7).every((l) => l.startsWith(`${file}:`))).toBe(true);
      expect(lines[7]).toBe(`${file}: 7 errors`);
      for (const what of [
        'unknown key',
        '(receiver "chat")',
        'defined twice',
        'not a duration',
        'undefined receiver "nope"',
        'undefined time interval "nights"',
        'invalid regular expression',
      ]) {
        expect(r.stderr).toContain(what);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('meshdrift explain of a bare mesh manifest', () => {
  it('prints what a drift of a plain Istio VirtualService would be classified as', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshdrift-explain-'));
    const file = join(dir, 'virtualservice.yaml');
    writeFileSync(
      file,
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\n  namespace: bookinfo\nspec:\n  hosts: [reviews]\n  http:\n    - route:\n        - destination: { host: reviews }\n',
    );
    try {
      const r = await runBin(['explain', file]);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toContain('if it drifts: VirtualService.networking.istio.io bookinfo/reviews, owner Namespace bookinfo, mesh istio, category traffic\n');
      expect(r.stdout).toMatch(/\n {2}Modified {5}HIGH {5}receivers: console\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
