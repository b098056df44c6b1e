import type { Attribution } from '../../model/forensics.ts';
import { type AdmissionStore, attributionOf } from '../../track/admission-store.ts';
import type { AdmissionLookup } from './cluster.ts';

/**
 * The mesh watch's person attributions (issue #17 tier 1) from the admission recorder's store:
 * the object's recent records since the edit (its field managers' time, less a minute of slack for
 * the two clocks), GitOps controllers' own writes and deletes left out, newest first. A person is
 * named only from what the API server told the recorder (`userInfo`), never from a field manager.
 */
export function admissionLookupFrom(store: Pick<AdmissionStore, 'recent'>, max = 2): AdmissionLookup {
  return async (cluster, uid, since): Promise<Attribution[]> => {
    const records = await store.recent(cluster, uid);
    return records
      .filter((r) => !r.gitops && r.operation !== 'DELETE' && r.at >= since)
      .slice(0, max)
      .map((r) => attributionOf(r));
  };
}
