// The fake Kubernetes API (test/fakes/kube-api.ts) holding the watch bench's Applications, run as
// its own process (fork) so that neither its store nor the serialising of list pages is counted in
// the memory of the meshdrift it serves, nor shares its event loop.
// Protocol over IPC: the parent sends KubeApiRequests; each gets one KubeApiAnswer.
import { writeFile } from 'node:fs/promises';
import { APPLICATIONS } from '../src/sources/kube/resources.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../test/fakes/kube-api.ts';
import { makeApplication } from './argocd-apps.ts';

export type KubeApiRequest =
  /** Starts the fake, stores `apps` Applications of `resources` resources, writes a kubeconfig file. */
  | { type: 'load'; apps: number; resources: number; kubeconfigPath: string }
  /**
   * `count` MODIFIED events: apps in turn get a new comparison (a new revision and reconciledAt, and
   * a different set of drifted resources), `perSecond` at most.
   */
  | { type: 'modify'; count: number; perSecond: number };

export type KubeApiAnswer =
  | { type: 'loaded'; url: string; apps: number; jsonBytes: number; ms: number; listRequests: number }
  | { type: 'modified'; count: number; ms: number; openWatches: number }
  | { type: 'error'; message: string };

let api: FakeKubeApi | undefined;
let spec = { apps: 0, resources: 0 };
let generation = 0;
let cursor = 0;
const baseTime = Date.parse('2026-11-24T10:00:00Z');

async function load(req: Extract<KubeApiRequest, { type: 'load' }>): Promise<KubeApiAnswer> {
  const started = performance.now();
  api = await startFakeKubeApi();
  api.serve(APPLICATIONS);
  spec = { apps: req.apps, resources: req.resources };
  let jsonBytes = 0;
  for (let i = 0; i < req.apps; i++) {
    const app = makeApplication({ index: i, resources: req.resources, reconciledAt: baseTime + i });
    if (i < 20) jsonBytes += JSON.stringify(app).length; // sampled: stringifying all 2,000 is slow
    api.apply(APPLICATIONS, app);
  }
  jsonBytes = Math.round((jsonBytes / Math.min(20, req.apps)) * req.apps);
  // exportConfig() holds the fake's bearer token: the file is the kubeconfig meshdrift reads.
  await writeFile(req.kubeconfigPath, api.kubeConfig().exportConfig(), { mode: 0o600 });
  return { type: 'loaded', url: api.url, apps: req.apps, jsonBytes, ms: performance.now() - started, listRequests: api.requests.length };
}

async function modify(req: Extract<KubeApiRequest, { type: 'modify' }>): Promise<KubeApiAnswer> {
  if (api === undefined) return { type: 'error', message: 'load first' };
  const started = performance.now();
  generation++;
  const gapMs = 1000 / req.perSecond;
  for (let n = 0; n < req.count; n++) {
    const i = cursor++ % spec.apps;
    const round = Math.floor(cursor / spec.apps) + generation;
    api.apply(APPLICATIONS, makeApplication({ index: i, resources: spec.resources, reconciledAt: baseTime + 3_600_000 * round + i, driftShift: round * 3 }));
    const due = started + (n + 1) * gapMs;
    const wait = due - performance.now();
    // Yield to the event loop at least now and then, so the watch streams are written out.
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    else if (n % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  return { type: 'modified', count: req.count, ms: performance.now() - started, openWatches: api.openWatches(APPLICATIONS) };
}

process.on('message', (m: unknown) => {
  const req = m as KubeApiRequest;
  const run = req.type === 'load' ? load(req) : modify(req);
  run.then(
    (answer) => process.send?.(answer),
    (err: unknown) => process.send?.({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies KubeApiAnswer),
  );
});
process.on('disconnect', () => {
  void api?.close().finally(() => process.exit(0));
});
