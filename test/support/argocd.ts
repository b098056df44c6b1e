import { readFixture } from './fixtures.ts';

type Json = Record<string, unknown>;

/** The sync status an Argo CD Application built by {@link meshApp} reports. */
export type MeshAppSync = 'OutOfSync' | 'Synced';

/** The fixture: an OutOfSync Argo CD Application with drifted Istio and Gateway API resources. */
export const MESH_APP_FIXTURE = 'argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json';

/** A `reconciledAt` later than the fixture's own (2026-11-24T10:03:11Z), for the snapshot that resolves. */
export const SYNCED_AT = '2026-11-24T10:30:00Z';

// The part of the Application the helpers change.
interface AppStatus {
  status: { sync: { status: string }; resources: Array<{ status: string; requiresPruning?: boolean }>; reconciledAt: string };
}

/**
 * A fresh copy of the mesh app (the Application object), reconciled at `reconciledAt` (default: as
 * in the fixture). Made `Synced`, every resource is Synced and those to prune are gone: the snapshot
 * that resolves everything.
 */
export function meshApp(sync: MeshAppSync = 'OutOfSync', reconciledAt?: string): Json {
  const app = readFixture(MESH_APP_FIXTURE) as AppStatus;
  if (reconciledAt !== undefined) app.status.reconciledAt = reconciledAt;
  if (sync === 'Synced') {
    app.status.sync.status = 'Synced';
    app.status.resources = app.status.resources.filter((r) => r.requiresPruning !== true).map((r) => ({ ...r, status: 'Synced' }));
  }
  return app as unknown as Json;
}

/** The Argo CD webhook body (`{ app }`) carrying {@link meshApp}. */
export function meshAppBody(sync: MeshAppSync = 'OutOfSync', reconciledAt?: string): { app: Json } {
  return { app: meshApp(sync, reconciledAt) };
}
