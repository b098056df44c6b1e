import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { type Attribution, changeListSchema, MAX_CHANGES } from '../model/forensics.ts';
import { ownerRefSchema } from '../model/signal.ts';

/**
 * The admission recorder's records (issue #17): who changed a mesh object, told by the API server
 * through the recorder webhook (sources/admission/), shared by every replica through Redis, looked
 * up by (cluster, object uid) when a finding on that object is built (the mesh watch of issue #16
 * attaches the person; the recorder itself tells a change to a GitOps-managed object at once).
 *
 * Storage: one capped stream of records plus a small index per object.
 * - `<p>:admission:records` (stream): every record, `XADD … MAXLEN ~ maxRecords`, so the whole
 *   recorder holds at most about `maxRecords` records however many objects are written (anyone who
 *   reaches the listener can post: the bound must not depend on how many uids they make up). Its
 *   TTL is renewed at each write: an idle recorder's stream expires.
 * - `<p>:admission:object:<h>` (list of stream ids, newest first, at most `perObject`, TTL `ttlMs`
 *   renewed at each write), `h` = sha256(cluster NUL uid)/32: the lookup by object is one LRANGE and
 *   one XRANGE per id, never a scan of the stream. An id whose record the stream already trimmed
 *   reads as nothing.
 * - `<p>:admission:confirmed:<h>` (hash id → epoch ms, same TTL): records a watch event confirmed
 *   (the admitted change was persisted; an admitted request may still fail later).
 * Per-object lists of whole records would make the lookup one command, but their total size grows
 * with the number of distinct uids posted within the TTL; the stream caps the data itself, and the
 * index holds only ids (~20 bytes each).
 */

export const ADMISSION_OPERATIONS = ['CREATE', 'UPDATE', 'DELETE'] as const;
export type AdmissionOperation = (typeof ADMISSION_OPERATIONS)[number];

const text = (max: number) => z.string().max(max);

export const admissionUserSchema = z.object({
  /** The username as the policy keeps it: as is, `sha256:<hmac>` or absent (dropped). */
  username: text(256).optional(),
  groups: z.array(text(256)).max(32).optional(),
  /** Only when the policy keeps user details (MESHDRIFT_ADMISSION_USER_DETAILS). */
  uid: text(128).optional(),
  extra: z.record(text(128), z.array(text(256)).max(8)).optional(),
});
export type AdmissionUser = z.infer<typeof admissionUserSchema>;

export const admissionRecordSchema = z.object({
  /** The AdmissionReview request uid (one API request). */
  requestUid: text(128),
  cluster: z.string().min(1).max(253),
  /** The object's metadata.uid. */
  uid: z.string().min(1).max(128),
  group: text(253),
  kind: z.string().min(1).max(63),
  namespace: text(63),
  name: z.string().min(1).max(253),
  operation: z.enum(ADMISSION_OPERATIONS),
  user: admissionUserSchema,
  /** Written by one of the GitOps controllers' service accounts (MESHDRIFT_ADMISSION_GITOPS_USERS). */
  gitops: z.boolean(),
  /** The GitOps owner the object's markers name (model/gitops-owner.ts), if any. */
  owner: ownerRefSchema.optional(),
  /** The field manager the client named (request options `fieldManager`), e.g. `kubectl-edit`. */
  via: text(128).optional(),
  /** Epoch ms on meshdrift's shared clock (src/clock.ts), when the request was received. */
  at: z.number().int().nonnegative(),
  /** resourceVersion of oldObject: the write replaces it. */
  fromResourceVersion: text(64).optional(),
  /** bodyDigest of the admitted object's redacted body (absent for DELETE): a watch event with it shows the write persisted. */
  afterDigest: text(64).optional(),
  /** oldObject → object, redacted and bounded (model/object-diff.ts). */
  changes: changeListSchema,
});
export type AdmissionRecord = z.infer<typeof admissionRecordSchema>;

/** A record as read back: its stream id and, once a watch event confirmed it, when. */
export type StoredAdmissionRecord = AdmissionRecord & { id: string; confirmedAt?: number };

export interface AdmissionStoreOptions {
  redis: Redis;
  keyPrefix: string;
  /** How long an object's records are kept after its last write. */
  ttlMs: number;
  /** Records kept per object (newest). */
  perObject: number;
  /** Records kept in all (approximate: MAXLEN ~). */
  maxRecords: number;
  now: () => number;
}

export interface AdmissionStore {
  /** Stores one record; resolves with its id. Rejects when Redis does (the caller retries or counts it). */
  record(rec: AdmissionRecord): Promise<string>;
  /** The object's records within the TTL, newest first (at most `perObject`). */
  recent(cluster: string, uid: string): Promise<StoredAdmissionRecord[]>;
  /** Marks a record confirmed by a watch event (the write persisted), at `at`. */
  confirm(cluster: string, uid: string, id: string, at: number): Promise<void>;
}

export function admissionStreamKey(keyPrefix: string): string {
  return `${keyPrefix}:admission:records`;
}

function objectHash(cluster: string, uid: string): string {
  return createHash('sha256').update(`${cluster}\0${uid}`).digest('hex').slice(0, 32);
}

export function admissionObjectKey(keyPrefix: string, cluster: string, uid: string): string {
  return `${keyPrefix}:admission:object:${objectHash(cluster, uid)}`;
}

export function admissionConfirmedKey(keyPrefix: string, cluster: string, uid: string): string {
  return `${keyPrefix}:admission:confirmed:${objectHash(cluster, uid)}`;
}

// KEYS: stream, index. ARGV: maxRecords, record JSON, perObject, ttlMs. Returns the stream id.
const RECORD = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'r', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('LPUSH', KEYS[2], id)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return id
`;

const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

function parseEntry(fields: string[] | undefined): AdmissionRecord | undefined {
  if (!fields) return undefined;
  const at = fields.indexOf('r');
  const raw = at === -1 ? undefined : fields[at + 1];
  if (raw === undefined) return undefined;
  try {
    const parsed = admissionRecordSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function readRecords(redis: Redis, stream: string, ids: string[]): Promise<Array<{ id: string; rec: AdmissionRecord }>> {
  const pipe = redis.pipeline();
  for (const id of ids) pipe.xrange(stream, id, id);
  const replies = (await pipe.exec()) ?? [];
  const out: Array<{ id: string; rec: AdmissionRecord }> = [];
  replies.forEach(([err, entries], i) => {
    if (err) throw err;
    const id = ids[i];
    const entry = (entries as Array<[string, string[]]> | null)?.[0];
    const rec = parseEntry(entry?.[1]);
    if (id !== undefined && rec) out.push({ id, rec });
  });
  return out;
}

/** The Redis-backed store (see the module comment for the key layout and why). */
export function createAdmissionStore(opts: AdmissionStoreOptions): AdmissionStore {
  const { redis, keyPrefix, ttlMs, perObject, maxRecords, now } = opts;
  const stream = admissionStreamKey(keyPrefix);
  return {
    async record(rec) {
      const json = JSON.stringify(admissionRecordSchema.parse(rec));
      const id = await redis.eval(RECORD, 2, stream, admissionObjectKey(keyPrefix, rec.cluster, rec.uid), maxRecords, json, perObject, ttlMs);
      return String(id);
    },
    async recent(cluster, uid) {
      const ids = (await redis.lrange(admissionObjectKey(keyPrefix, cluster, uid), 0, perObject - 1)).filter((id) => STREAM_ID.test(id));
      if (ids.length === 0) return [];
      const [records, confirmed] = await Promise.all([readRecords(redis, stream, ids), redis.hgetall(admissionConfirmedKey(keyPrefix, cluster, uid))]);
      const since = now() - ttlMs;
      return records
        .filter(({ rec }) => rec.at >= since && rec.cluster === cluster && rec.uid === uid)
        .map(({ id, rec }) => {
          const at = Number(confirmed[id]);
          return Number.isSafeInteger(at) && at > 0 ? { ...rec, id, confirmedAt: at } : { ...rec, id };
        });
    },
    async confirm(cluster, uid, id, at) {
      if (!STREAM_ID.test(id)) throw new Error('not a record id');
      const key = admissionConfirmedKey(keyPrefix, cluster, uid);
      await redis.multi().hset(key, id, String(at)).pexpire(key, ttlMs).exec();
    },
  };
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}

/**
 * A digest of what a write set: the object's redacted body (everything but apiVersion, kind,
 * metadata and status, through model/redact.ts redactObject), key order aside. The recorder stores
 * it for the admitted object; the mesh watch keeps the same redacted body of each object it sees
 * (sources/mesh/slim.ts), so a watch event whose body has the same digest shows that the write was
 * persisted (`persistedIn`), on any replica. A masked value that changed does not change it: the
 * resourceVersion still tells the write from the one before.
 */
export function bodyDigest(redactedBody: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(redactedBody)) ?? 'null')
    .digest('hex');
}

/** What a watch event shows of one object: its resourceVersion and redacted body; undefined when it was deleted. */
export interface LiveVersion {
  resourceVersion?: string | undefined;
  /** The redacted body (parsed), as sources/mesh/slim.ts keeps it; undefined when the watch kept none (too large). */
  body?: unknown;
}

/**
 * Whether a watch event shows this record's write persisted: for a DELETE, the object is gone
 * (`live` undefined); otherwise the live body is what the request wrote (same digest) at a
 * resourceVersion other than the one the request replaced.
 */
export function persistedIn(rec: AdmissionRecord, live: LiveVersion | undefined): boolean {
  if (rec.operation === 'DELETE') return live === undefined;
  if (live?.body === undefined || rec.afterDigest === undefined) return false;
  if (rec.fromResourceVersion !== undefined && live.resourceVersion === rec.fromResourceVersion) return false;
  return bodyDigest(live.body) === rec.afterDigest;
}

/** How a finding names who made a recorded change: a person, through the tool they used. */
export function attributionOf(rec: AdmissionRecord, withheld = 'a person (name withheld)'): Attribution {
  const paths = rec.changes.changes.map((c) => c.path).slice(0, MAX_CHANGES);
  return {
    kind: 'person',
    who: rec.user.username ?? withheld,
    ...(rec.via === undefined ? {} : { via: rec.via }),
    operation: rec.operation,
    at: rec.at,
    source: 'admission',
    ...(paths.length === 0 ? {} : { paths }),
  };
}

/**
 * The mesh watch's side of the join (issue #17): for a watch event of an object (`live`
 * undefined: it was deleted), the admission records it shows persisted (`persistedIn`) are marked
 * confirmed, once each (`onConfirmed` counts them). Returns the object's records, newest first,
 * with the confirmations of this call applied, for the watch to choose whom to name.
 */
export async function confirmWrites(
  store: Pick<AdmissionStore, 'recent' | 'confirm'>,
  object: { cluster: string; uid: string },
  live: LiveVersion | undefined,
  at: number,
  onConfirmed: (rec: StoredAdmissionRecord) => void = () => undefined,
): Promise<StoredAdmissionRecord[]> {
  const records = await store.recent(object.cluster, object.uid);
  const out: StoredAdmissionRecord[] = [];
  for (const rec of records) {
    if (rec.confirmedAt === undefined && persistedIn(rec, live)) {
      await store.confirm(object.cluster, object.uid, rec.id, at);
      onConfirmed(rec);
      out.push({ ...rec, confirmedAt: at });
    } else out.push(rec);
  }
  return out;
}
