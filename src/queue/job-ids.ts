import { digest } from '../model/fingerprint.ts';

/**
 * A BullMQ-safe job id from parts: hex, never all digits. Persisted (BullMQ dedups by it across
 * restarts and replicas): `<kind>-<32 hex>`, byte-identical to earlier versions (golden ids in
 * test/unit/model/owner.test.ts and test/unit/model/fingerprint.test.ts).
 */
export function jobIdOf(kind: string, ...parts: ReadonlyArray<string | number>): string {
  return `${kind}-${digest(parts.map(String), 32)}`;
}
