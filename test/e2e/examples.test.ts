import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSteps } from '../../src/cli/demo.ts';
import { runExplain } from '../../src/cli/explain.ts';
import { redisUrl, testPrefix } from '../support/redis.ts';
import { postArgocd, postFlux, startService, stopService } from '../support/service.ts';

// issue #19: each file of examples/demo is what Argo CD or Flux posts, usable as it is: posted to a
// running meshdrift (curl -d @file), or explained. The demo's own data is in examples/demo/steps.json.
const DIR = fileURLToPath(new URL('../../examples/demo/', import.meta.url));

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    }),
    text: () => text,
  };
}

describe('examples/demo as they are', () => {
  const prefix = testPrefix('examples');
  let app: Awaited<ReturnType<typeof startService>>;

  beforeAll(async () => {
    app = await startService({ redisUrl: redisUrl(), prefix });
  });
  afterAll(() => stopService(app, redisUrl(), prefix));

  it('every file is accepted by the webhook steps.json names (202), byte for byte', async () => {
    const steps = await readSteps(DIR);
    expect(steps.map((s) => s.file)).toHaveLength(5);
    for (const step of steps) {
      const body = readFileSync(`${DIR}${step.file}`, 'utf8');
      const res = step.webhook === 'argocd' ? await postArgocd(app.url, body) : await postFlux(app.url, body);
      expect([step.file, res.status]).toEqual([step.file, 202]);
    }
  });

  it('every file can be explained', async () => {
    for (const { file } of await readSteps(DIR)) {
      const out = sink();
      const err = sink();
      const code = await runExplain([`${DIR}${file}`, '--json'], out.stream, err.stream, {});
      expect([file, code, err.text()]).toEqual([file, 0, '']);
      expect(JSON.parse(out.text())).toHaveProperty('findings');
    }
  });
});
