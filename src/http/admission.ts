import type { Catalog } from '../classify/catalog.ts';
import type { Env } from '../config/env.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { type AdmissionRecorderDeps, createAdmissionRecorder } from '../sources/admission/recorder.ts';
import type { AdmissionStore } from '../track/admission-store.ts';
import type { Ingest } from '../track/ingest.ts';
import { type AdmissionListener, createAdmissionListener } from './admission-listener.ts';

/** The recorder webhook as app.ts starts it: listener + recorder, from the environment (issue #17). */
export interface AdmissionEdge {
  start(): Promise<void>;
  /** Stops taking requests, then lets the queued ones be recorded within `graceMs`. */
  stop(graceMs: number): Promise<void>;
  address(): ReturnType<AdmissionListener['address']>;
  reloadTls(): Promise<boolean>;
  /** Requests waiting or being recorded. */
  pending(): number;
}

export interface AdmissionEdgeDeps {
  env: Env;
  store: AdmissionStore;
  ingest: Ingest;
  catalog: Catalog;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  /** The owning Application as the Argo CD watch holds it (filled where the watches run); optional. */
  apps?: AdmissionRecorderDeps['apps'];
}

/** The admission edge, or undefined when MESHDRIFT_ADMISSION is off. */
export function createAdmissionEdge(deps: AdmissionEdgeDeps): AdmissionEdge | undefined {
  const { env, metrics } = deps;
  if (!env.MESHDRIFT_ADMISSION || !env.MESHDRIFT_ADMISSION_TLS_CERT || !env.MESHDRIFT_ADMISSION_TLS_KEY) return undefined;
  const log = deps.log.child({ component: 'admission' });
  const recorder = createAdmissionRecorder({
    store: deps.store,
    ingest: deps.ingest,
    context: {
      cluster: env.MESHDRIFT_ADMISSION_CLUSTER ?? env.MESHDRIFT_CLUSTER,
      catalog: deps.catalog,
      users: {
        usernames: env.MESHDRIFT_ADMISSION_USERNAMES,
        groups: env.MESHDRIFT_ADMISSION_GROUPS,
        hashKey: env.MESHDRIFT_ADMISSION_HASH_KEY,
        details: env.MESHDRIFT_ADMISSION_USER_DETAILS,
        gitopsUsers: new Set(env.MESHDRIFT_ADMISSION_GITOPS_USERS),
      },
      owners: { argoCdNamespace: env.MESHDRIFT_ARGOCD_NAMESPACE, argoCdInstanceLabel: env.MESHDRIFT_ARGOCD_INSTANCE_LABEL },
    },
    now: deps.now,
    ...(deps.apps ? { apps: deps.apps } : {}),
    metrics,
    log,
    maxQueue: env.MESHDRIFT_ADMISSION_QUEUE,
    maxQueueBytes: env.MESHDRIFT_ADMISSION_QUEUE_BYTES,
  });
  const listener = createAdmissionListener({
    host: env.MESHDRIFT_ADMISSION_HOST,
    port: env.MESHDRIFT_ADMISSION_PORT,
    certFile: env.MESHDRIFT_ADMISSION_TLS_CERT,
    keyFile: env.MESHDRIFT_ADMISSION_TLS_KEY,
    reloadIntervalMs: env.MESHDRIFT_ADMISSION_TLS_RELOAD_INTERVAL,
    deadlineMs: env.MESHDRIFT_ADMISSION_DEADLINE,
    maxBodyBytes: env.MESHDRIFT_ADMISSION_MAX_BODY,
    recorder,
    metrics,
    log,
  });
  return {
    async start() {
      await listener.listen();
      log.info({ url: `${listener.address().url}/admission` }, 'admission recorder listening');
    },
    async stop(graceMs) {
      await listener.close();
      await recorder.stop(graceMs);
    },
    address: () => listener.address(),
    reloadTls: () => listener.reloadTls(),
    pending: () => recorder.pending(),
  };
}
