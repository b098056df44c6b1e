// The fake Kubernetes API (test/fakes/kube-api.ts) holding the mesh watch bench's VirtualServices
// (issue #16), in its own process (fork) so its store is not counted in meshdrift's memory.
// Protocol over IPC: the parent sends MeshApiRequests; each gets one MeshApiAnswer.
import { writeFile } from 'node:fs/promises';
import { APPLICATIONS } from '../src/sources/kube/resources.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../test/fakes/kube-api.ts';
import { entry, gitopsEntry, HOSTS_ONLY, HTTP_ONLY, type Owner, reviewsHttp, VIRTUAL_SERVICES, virtualService } from '../test/support/mesh.ts';

export type MeshApiRequest =
  /** Starts the fake, stores `objects` Argo CD-managed VirtualServices (`perApp` per app), writes a kubeconfig. */
  | { type: 'load'; objects: number; perApp: number; kubeconfigPath: string }
  /** A `kubectl edit` of object `index` (a weight, by the kubectl-edit manager); answers when it was written. */
  | { type: 'edit'; index: number };

export type MeshApiAnswer =
  | { type: 'loaded'; objects: number; jsonBytes: number; ms: number }
  | { type: 'edited'; at: number }
  | { type: 'error'; message: string };

let api: FakeKubeApi | undefined;
let perApp = 100;
const T0 = Date.parse('2026-12-04T10:00:00Z');

const ownerOf = (i: number): Owner => ({ tool: 'argocd', app: `mesh-app-${Math.floor(i / perApp)}` });
const ids = (i: number) => ({ name: `route-${i}`, namespace: `team-${i % 50}`, uid: `uid-vs-${i}` });

async function load(req: Extract<MeshApiRequest, { type: 'load' }>): Promise<MeshApiAnswer> {
  const started = performance.now();
  api = await startFakeKubeApi();
  api.serve(APPLICATIONS);
  api.serve(VIRTUAL_SERVICES);
  perApp = req.perApp;
  let jsonBytes = 0;
  for (let i = 0; i < req.objects; i++) {
    const owner = ownerOf(i);
    const vs = virtualService({ ...ids(i), owner, http: reviewsHttp([90, 10]), managers: [gitopsEntry(owner, T0)] });
    if (i < 20) jsonBytes += JSON.stringify(vs).length;
    api.apply(VIRTUAL_SERVICES, vs);
  }
  jsonBytes = Math.round((jsonBytes / Math.min(20, req.objects)) * req.objects);
  await writeFile(req.kubeconfigPath, api.kubeConfig().exportConfig(), { mode: 0o600 });
  return { type: 'loaded', objects: req.objects, jsonBytes, ms: performance.now() - started };
}

function edit(req: Extract<MeshApiRequest, { type: 'edit' }>): MeshApiAnswer {
  if (api === undefined) return { type: 'error', message: 'load first' };
  const owner = ownerOf(req.index);
  const at = Date.now();
  api.apply(
    VIRTUAL_SERVICES,
    virtualService({
      ...ids(req.index),
      owner,
      http: reviewsHttp([50, 50]),
      managers: [gitopsEntry(owner, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', Math.floor(at / 1000) * 1000, HTTP_ONLY)],
    }),
  );
  return { type: 'edited', at };
}

process.on('message', (m: unknown) => {
  const req = m as MeshApiRequest;
  const run = req.type === 'load' ? load(req) : Promise.resolve(edit(req));
  run.then(
    (answer) => process.send?.(answer),
    (err: unknown) => process.send?.({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies MeshApiAnswer),
  );
});
process.on('disconnect', () => {
  void api?.close().finally(() => process.exit(0));
});
