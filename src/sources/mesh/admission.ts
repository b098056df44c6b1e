import type { Attribution } from '../../model/forensics.ts';
import { type AdmissionStore, attributionOf, confirmWrites, type StoredAdmissionRecord } from '../../track/admission-store.ts';
import type { AdmissionLookup } from './cluster.ts';

export interface AdmissionLookupOptions {
  /** Most persons named per finding. */
  max?: number;
  now?: () => number;
  /** A record a watch event confirmed (meshdrift_admission_joined_total{how="confirmed"}). */
  onConfirmed?: (rec: StoredAdmissionRecord) => void;
}

/**
 * The mesh watch's person attributions (issue #17 tier 1) from the admission recorder's store:
 * the object's recent records since the edit (its field managers' time, less a minute of slack for
 * the two clocks), GitOps controllers' own writes and deletes left out, newest first. A person is
 * named only from what the API server told the recorder (`userInfo`), never from a field manager.
 * Given the version the watch saw, the records it shows persisted are confirmed first (told →
 * confirmed: track/admission-store.ts confirmWrites).
 */
export function admissionLookupFrom(store: Pick<AdmissionStore, 'recent' | 'confirm'>, opts: AdmissionLookupOptions = {}): AdmissionLookup {
  const max = opts.max ?? 2;
  const now = opts.now ?? Date.now;
  return async (cluster, uid, since, live): Promise<Attribution[]> => {
    const records = live === undefined ? await store.recent(cluster, uid) : await confirmWrites(store, { cluster, uid }, live, now(), opts.onConfirmed);
    return records
      .filter((r) => !r.gitops && r.operation !== 'DELETE' && r.at >= since)
      .slice(0, max)
      .map((r) => attributionOf(r));
  };
}
