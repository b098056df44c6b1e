import type { Signal } from '../../src/model/signal.ts';
import type { Ingest } from '../../src/track/ingest.ts';
import { startFakeKubeApi, type FakeKubeApi, type FakeResource } from '../fakes/kube-api.ts';

/** The fake Kubernetes API servers a test file starts, closed together after each test. */
export function fakeKubeApis(): { start(...served: FakeResource[]): Promise<FakeKubeApi>; closeAll(): Promise<void> } {
  const started: FakeKubeApi[] = [];
  return {
    async start(...served) {
      const api = await startFakeKubeApi();
      for (const r of served) api.serve(r);
      started.push(api);
      return api;
    },
    async closeAll() {
      await Promise.all(started.splice(0).map((f) => f.close()));
    },
  };
}

/** An Ingest that records every signal it is given (no Redis, so a duplicate stays visible). */
export function recordingIngest(): { ingest: Ingest; signals: Signal[] } {
  const signals: Signal[] = [];
  return {
    signals,
    ingest: async (signal) => {
      signals.push(signal);
      return { outcome: 'tracked', groups: [], findings: signal.resources.length };
    },
  };
}
