import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, redisAnswers } from '../../src/cli/redis-finder.ts';

/** A redis-server of the test's own on a spare loopback port, so it can be stopped and restarted. */
export interface OwnRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startOwnRedis(extraArgs: string[] = []): Promise<OwnRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const own: OwnRedis = {
    url,
    port,
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', ...extraArgs],
        { stdio: 'ignore' },
      );
      for (let i = 0; i < 50; i++) {
        if (await redisAnswers(url, 200)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`redis-server on ${port} did not start`);
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      });
    },
  };
  await own.start();
  return own;
}
