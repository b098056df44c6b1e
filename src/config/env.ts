import { isIP } from 'node:net';
import { z } from 'zod';
import { LOG_LEVELS } from '../log.ts';
import type { AppMetricsMode } from '../metrics.ts';
import { type KubeSourcesConfig, parseKubeSourcesConfig } from './clusters.ts';
import { parseDuration } from '../model/duration.ts';
import { placeholderSecrets } from './secrets.ts';
import { parseGitHosts } from './git-hosts.ts';

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 500ms, 10s, 5m, 1h)` });
        return z.NEVER;
      }
      return ms;
    });

/** A byte size: `1048576`, `512KiB`, `2MiB`. */
const byteSize = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const m = /^\s*(\d+)\s*(KiB|MiB)?\s*$/.exec(text);
      if (m === null) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a size (use bytes, or e.g. 512KiB, 2MiB)` });
        return z.NEVER;
      }
      return Number(m[1]) * (m[2] === 'MiB' ? 1024 * 1024 : m[2] === 'KiB' ? 1024 : 1);
    });

/** An RFC 1123 label, as Kubernetes requires of namespace names. */
const K8S_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A comma-separated list, blanks dropped. */
const commaList = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** A whole number from `min` to `max`, with a default. */
const count = (fallback: number, min: number, max: number) =>
  z
    .string()
    .default(String(fallback))
    .refine((v) => /^\d+$/.test(v.trim()) && Number(v) >= min && Number(v) <= max, `must be a whole number from ${min} to ${max}`)
    .transform(Number);

/** An IP address or CIDR (`10.0.0.0/8`, `::1`, `fd00::/8`). */
function isAddressOrCidr(entry: string): boolean {
  const [addr = '', bits, ...rest] = entry.split('/');
  const family = isIP(addr);
  if (family === 0 || rest.length > 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** An HTTP header name, kept lower-case. */
const httpHeaderName = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((v) => /^[A-Za-z0-9-]{1,100}$/.test(v.trim()), 'must be an HTTP header name')
    .transform((v) => v.trim().toLowerCase());

/** What MESHDRIFT_ALLOW_UNAUTHENTICATED may open: each webhook and the API. */
export const OPENABLE = ['argocd', 'flux', 'api'] as const;
export type Openable = (typeof OPENABLE)[number];
const ALLOW_WORDS: Record<string, readonly Openable[]> = {
  true: OPENABLE,
  all: OPENABLE,
  webhooks: ['argocd', 'flux'],
  argocd: ['argocd'],
  flux: ['flux'],
  api: ['api'],
  false: [],
  none: [],
};

const optionalSecret = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const optionalPath = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** `host:port` entries, comma-separated, at most 32 (Sentinel and Cluster seed nodes). */
const hostPortList = z
  .string()
  .optional()
  .transform(commaList)
  .refine(
    (list) => list.length <= 32 && list.every((e) => /^[A-Za-z0-9.-]{1,253}:\d{1,5}$/.test(e) && Number(e.slice(e.lastIndexOf(':') + 1)) <= 65535),
    'must be host:port entries, comma-separated, at most 32',
  )
  .transform((list) => list.map((e) => ({ host: e.slice(0, e.lastIndexOf(':')), port: Number(e.slice(e.lastIndexOf(':') + 1)) })));

/**
 * The service's environment. Everything operational is here; policy and routes live in one YAML
 * file (issue #3). Secrets are kept out of error messages: only names of variables are reported.
 */
export const envSchema = z.object({
  PORT: z
    .string()
    .default('8080')
    .refine((v) => /^\d+$/.test(v) && Number(v) <= 65535, 'must be a TCP port number, 0-65535 (0 picks a free one)')
    .transform(Number),
  HOST: z.string().default('0.0.0.0'),
  REDIS_URL: z
    .string()
    .default('redis://127.0.0.1:6379')
    .refine((v) => /^rediss?:\/\//.test(v), 'must start with redis:// or rediss://'),
  /** `host:port` of each sentinel, comma-separated (with REDIS_SENTINEL_NAME): Sentinel instead of REDIS_URL. */
  REDIS_SENTINELS: hostPortList,
  /** The primary's name the sentinels monitor (`sentinel monitor <name> …`). */
  REDIS_SENTINEL_NAME: z.string().trim().min(1).max(256).optional(),
  REDIS_SENTINEL_PASSWORD: optionalSecret,
  /** `host:port` of some Redis Cluster nodes, comma-separated: Cluster instead of REDIS_URL. */
  REDIS_CLUSTER_NODES: hostPortList,
  /** The data nodes' credentials for Sentinel and Cluster (REDIS_URL carries its own). */
  REDIS_USERNAME: z.string().trim().min(1).max(256).optional(),
  REDIS_PASSWORD: optionalSecret,
  /** PEM files: the CA to trust, and a client certificate and key (rediss://, or TLS to Sentinel and Cluster nodes). */
  REDIS_TLS_CA_FILE: optionalPath,
  REDIS_TLS_CERT_FILE: optionalPath,
  REDIS_TLS_KEY_FILE: optionalPath,
  /** Every key and queue starts with it; one Cluster hash tag (`{meshdrift}`) keeps them all in one slot. */
  MESHDRIFT_KEY_PREFIX: z
    .string()
    .regex(
      /^[A-Za-z0-9_.-]*(?:\{[A-Za-z0-9_.-]+\}[A-Za-z0-9_.-]*)?$/,
      'letters, digits, _ . - only, with at most one Redis Cluster hash tag such as {meshdrift} (it prefixes every Redis key)',
    )
    .min(1)
    .default('meshdrift'),
  MESHDRIFT_CLUSTER: z.string().min(1).default('in-cluster'),
  MESHDRIFT_ARGOCD_TOKEN: optionalSecret,
  MESHDRIFT_FLUX_HMAC_KEY: optionalSecret,
  /** For Flux's `generic` provider, which can only send static headers. */
  MESHDRIFT_FLUX_TOKEN: optionalSecret,
  /**
   * How long a Flux object's remembered revision lives after its last write (each heartbeat
   * refreshes it). Longer than the longest Flux interval, or the first change set after it lapses
   * is told as unverified.
   */
  MESHDRIFT_FLUX_REVISION_TTL: duration('7d').refine((ms) => ms >= 3_600_000, 'must be at least 1h (longer than your Flux intervals)'),
  /** How far past receipt a Flux event's timestamp may be when it moves the revision memory. */
  MESHDRIFT_FLUX_MAX_SKEW: duration('1m').refine((ms) => ms <= 3_600_000, 'must be at most 1h'),
  /** Largest POST /webhooks/argocd body; larger ones get 413 (Argo CD does not retry it). */
  MESHDRIFT_ARGOCD_MAX_BODY: byteSize('2MiB').refine((n) => n >= 64 * 1024 && n <= 64 * 1024 * 1024, 'must be between 64KiB and 64MiB'),
  /** Largest POST /webhooks/flux body. */
  MESHDRIFT_FLUX_MAX_BODY: byteSize('1MiB').refine((n) => n >= 64 * 1024 && n <= 64 * 1024 * 1024, 'must be between 64KiB and 64MiB'),
  MESHDRIFT_GROUP_WAIT: duration('10s'),
  MESHDRIFT_GROUP_INTERVAL: duration('5m'),
  /** Default resolve_wait of the root route: how soon a fully resolved group is told so. */
  MESHDRIFT_RESOLVE_WAIT: duration('30s'),
  /**
   * Drift storms (deliver/storm.ts): this many groups of one receiver first firing within
   * MESHDRIFT_STORM_WINDOW are told as one summary per receiver; 0 turns storms off.
   */
  MESHDRIFT_STORM_THRESHOLD: count(50, 0, 100_000).refine((n) => n === 0 || n >= 2, 'must be 0 (off) or at least 2'),
  /** The storm window, also the storm summary's refresh interval and how long a storm takes members after the last one. */
  MESHDRIFT_STORM_WINDOW: duration('1m').refine((ms) => ms >= 1_000 && ms <= 3_600_000, 'must be from 1s to 1h'),
  /** Where operators reach meshdrift (its API), for links in notifications (a storm's members); unset: links are paths. */
  MESHDRIFT_PUBLIC_URL: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
    .optional(),
  SLACK_BOT_TOKEN: optionalSecret,
  SLACK_CHANNEL: z.string().optional(),
  SLACK_API_URL: z.string().url().optional(),
  MESHDRIFT_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** Policy file (rules, receivers, routes). Unset: built-in defaults (README). */
  MESHDRIFT_POLICY: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v)),
  /** Kubernetes watches: `name=in-cluster`, `name=/path/kubeconfig[#context]`, comma-separated. Unset: webhooks only. */
  MESHDRIFT_CLUSTERS: z.string().optional(),
  /** Which kinds to watch: applications,kustomizations,helmreleases,events (default all four). */
  MESHDRIFT_WATCH: z.string().optional(),
  /** Namespaces to watch (default all). */
  MESHDRIFT_WATCH_NAMESPACES: z.string().optional(),
  /** Kubernetes Lease leader election for the watches (default on when MESHDRIFT_CLUSTERS is set). */
  MESHDRIFT_LEADER_ELECTION: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Namespace of the Lease; default the pod's own namespace, else `default`. */
  MESHDRIFT_LEASE_NAMESPACE: z.string().min(1).optional(),
  /** Name of the Lease. */
  MESHDRIFT_LEASE_NAME: z.string().min(1).default('meshdrift-leader'),
  /** The audit re-list period: no lost event hides drift longer than this. */
  MESHDRIFT_AUDIT_INTERVAL: duration('5m'),
  /** A cluster whose watches have all failed this long raises "cluster unreachable" and fails /readyz. */
  MESHDRIFT_SOURCE_DOWN_AFTER: duration('2m'),
  /**
   * How long a SIGTERM waits for in-flight webhooks, their commits and the workers' active jobs
   * before it closes what is left; keep it below Kubernetes' terminationGracePeriodSeconds minus
   * the preStop pause.
   */
  MESHDRIFT_WORKER_STALL_AFTER: duration('60s').refine((ms) => ms >= 10_000, 'must be at least 10s'),
  MESHDRIFT_SHUTDOWN_GRACE: duration('20s').refine((ms) => ms >= 1_000, 'must be at least 1s'),
  /** How often meshdrift checks that Redis still holds its state (its epoch key); also at every reconnect. */
  MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL: duration('10s').refine((ms) => ms >= 1_000, 'must be at least 1s'),
  /** After Redis lost its state: how long /readyz says so and new Slack messages look for the old one first. */
  MESHDRIFT_REDIS_DATA_LOSS_WINDOW: duration('1h').refine((ms) => ms >= 60_000, 'must be at least 1m'),
  /** How far before its receipt a webhook's own timestamp may lie; later or earlier ones are clamped to the receipt bounds. */
  MESHDRIFT_MAX_SENDER_SKEW: duration('1m'),
  /** How often each replica measures its clock against Redis TIME (the shared clock). */
  MESHDRIFT_CLOCK_SYNC_INTERVAL: duration('30s').refine((ms) => ms >= 1_000, 'must be at least 1s'),
  /** Warn in the log when the local clock is off from Redis TIME by more than this. */
  MESHDRIFT_CLOCK_WARN_OFFSET: duration('1s'),
  /** Slack app signing secret: enables POST /slack/actions (buttons). */
  SLACK_SIGNING_SECRET: optionalSecret,
  /** Slack user IDs allowed to press the buttons, comma-separated; `*` for anyone. Unset: nobody. */
  MESHDRIFT_SLACK_ALLOWED_USERS: z.string().optional(),
  /** Bearer token for the JSON API (/api/v1). Unset: the API is open, and serve refuses to start unless MESHDRIFT_ALLOW_UNAUTHENTICATED says `api`. */
  MESHDRIFT_API_TOKEN: optionalSecret,
  /**
   * What may run without authentication: `api`, `argocd`, `flux`, `webhooks` (both), `true`/`all`
   * (everything), comma-separated; default none. serve refuses to start with an endpoint open that
   * is not listed here.
   */
  MESHDRIFT_ALLOW_UNAUTHENTICATED: z
    .string()
    .optional()
    .transform(commaList)
    .transform((words, ctx) => {
      const open = new Set<Openable>();
      for (const w of words) {
        const meant = ALLOW_WORDS[w.toLowerCase()];
        if (meant === undefined) {
          ctx.addIssue({ code: 'custom', message: `"${w.slice(0, 32)}" is not one of api, argocd, flux, webhooks, true, all, false, none` });
          return z.NEVER;
        }
        for (const m of meant) open.add(m);
      }
      return [...open];
    }),
  /** Sender credentials scoped to clusters, projects and namespaces (YAML or JSON; docs/operations.md). */
  MESHDRIFT_SENDERS_FILE: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
  /** Clusters MESHDRIFT_ARGOCD_TOKEN, MESHDRIFT_FLUX_HMAC_KEY and MESHDRIFT_FLUX_TOKEN may speak for, comma-separated; `*`: any. Default MESHDRIFT_CLUSTER alone. */
  MESHDRIFT_LEGACY_SENDER_CLUSTERS: z
    .string()
    .optional()
    .transform(commaList)
    .refine((list) => !list.includes('*') || list.length === 1, '"*" (any cluster) stands alone'),
  /**
   * The web page (/ui, issue #21). Addresses and CIDRs of the authenticating proxy in front of it,
   * comma-separated: only on connections from these are its user and groups headers believed.
   * Unset: no proxy header is believed (the page is then for the API token, or open read-only
   * when the API is).
   */
  MESHDRIFT_UI_TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform(commaList)
    .refine((list) => list.length <= 100 && list.every(isAddressOrCidr), 'must be IP addresses or CIDRs (10.0.0.0/8, fd00::/8), comma-separated, at most 100'),
  /** The proxy's header naming the user (oauth2-proxy: X-Forwarded-User or X-Forwarded-Email). */
  MESHDRIFT_UI_USER_HEADER: httpHeaderName('x-forwarded-user'),
  /** The proxy's header listing the user's groups, comma-separated. */
  MESHDRIFT_UI_GROUPS_HEADER: httpHeaderName('x-forwarded-groups'),
  /** Who may write on the page (silences, acknowledge, expire): `user:<name>` and `group:<name>`, comma-separated. Default nobody (read-only). */
  MESHDRIFT_UI_WRITERS: z
    .string()
    .optional()
    .transform(commaList)
    .refine(
      (list) => list.length <= 200 && list.every((w) => /^(user|group):.{1,256}$/.test(w)),
      'must be user:<name> or group:<name> entries, comma-separated, at most 200',
    ),
  /** How long "Acknowledge" on the page silences an incident (ack = a short silence). */
  MESHDRIFT_UI_ACK_DURATION: duration('1h').refine((ms) => ms >= 60_000 && ms <= 7 * 86_400_000, 'must be from 1m to 7d'),
  /** Most active alert groups the board reads per request (the board pages and filters on the server). */
  MESHDRIFT_UI_MAX_GROUPS: count(10_000, 1, 100_000),
  /** Argo CD UI base URL, for links in notifications. */
  ARGOCD_URL: z.string().url().optional(),
  /** Self-hosted Git forges for commit links: `host=forge` (github, gitlab, bitbucket, gitea, azure), comma-separated. */
  MESHDRIFT_GIT_HOSTS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const parsed = parseGitHosts(v);
      if (parsed.ok) return parsed.hosts;
      for (const problem of parsed.problems) ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }),
  /**
   * Argo CD API polling (issue #5), for meshdrift outside the cluster; ARGOCD_URL is the API base.
   * The token (an account or project role with `applications, get`) turns it on.
   */
  ARGOCD_TOKEN: optionalSecret,
  /** Time between two polls; `0` turns polling off. */
  ARGOCD_POLL_INTERVAL: duration('1m').refine((ms) => ms === 0 || ms >= 1_000, 'must be 0 (polling off) or at least 1s'),
  /** Only apps of these Argo CD projects, comma-separated (default all). */
  ARGOCD_PROJECTS: z.string().optional().transform(commaList),
  /** Only apps whose labels match this selector (`team=payments`, `tier in (mesh,edge)`). */
  ARGOCD_SELECTOR: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
  /** Namespaces of apps outside Argo CD's own ("apps in any namespace"), comma-separated; one list each. */
  ARGOCD_APP_NAMESPACES: z
    .string()
    .optional()
    .transform(commaList)
    .refine((list) => list.every((ns) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns)), 'must be Kubernetes namespace names, comma-separated'),
  /** Bound of each Argo CD API request. */
  ARGOCD_TIMEOUT: duration('30s').refine((ms) => ms > 0, 'must be more than 0'),
  /** Most managed-resources reads per poll, for the field changes of drifted mesh resources (issue #16); `0` turns them off. */
  ARGOCD_DIFF_FETCHES: count(10, 0, 1000),
  /** At most this many pending and active silences; past it, a create answers 409. */
  MESHDRIFT_SILENCES_MAX: count(1000, 1, 1_000_000),
  /** At most this many matchers in one silence. */
  MESHDRIFT_SILENCE_MAX_MATCHERS: count(32, 1, 64),
  /** Longest label name or value of one silence matcher. */
  MESHDRIFT_SILENCE_MAX_VALUE_LENGTH: count(1024, 1, 4096),
  /** Longest silence comment. */
  MESHDRIFT_SILENCE_MAX_COMMENT_LENGTH: count(1024, 1, 4096),
  /** Longest silence createdBy. */
  MESHDRIFT_SILENCE_MAX_CREATED_BY_LENGTH: count(256, 1, 4096),
  /** Longest silence (endsAt - startsAt). */
  MESHDRIFT_SILENCE_MAX_DURATION: duration('90d').refine((ms) => ms >= 60_000, 'must be at least 1m'),
  /**
   * At most this many alert groups (firing or retained) exist; a signal that would create one more
   * fails with 503. 50,000: a storm of 10,000 apps routed to 2 receivers (20,000 groups, issue #15)
   * with 2.5x room; Redis holds about 4 KB per finding with its notifications (docs/operations.md).
   */
  MESHDRIFT_MAX_ALERT_GROUPS: count(50_000, 1, 10_000_000),
  /** A firing group no signal has reported for this long is dropped (its keys expire). */
  MESHDRIFT_FIRING_GROUP_TTL: duration('30d').refine((ms) => ms >= 86_400_000, 'must be at least 1d'),
  /** Per-app series of meshdrift_app_drift_total: `top:N`, `all` or `off`. */
  MESHDRIFT_APP_METRICS: z
    .string()
    .default('top:50')
    .transform((text, ctx): AppMetricsMode => {
      const v = text.trim();
      if (v === 'all' || v === 'off') return { mode: v };
      const top = /^top:(\d+)$/.exec(v);
      if (top && Number(top[1]) >= 1 && Number(top[1]) <= 10_000) return { mode: 'top', n: Number(top[1]) };
      ctx.addIssue({ code: 'custom', message: 'must be top:N (N from 1 to 10000), all or off' });
      return z.NEVER;
    }),
  /** Notifications kept for GET /api/v1/alerts/history. */
  MESHDRIFT_HISTORY_MAX: count(1000, 1, 100_000),
  /** Audit records kept (approximately; also trimmed at 30 days). */
  MESHDRIFT_AUDIT_MAX: count(100_000, 100, 10_000_000),
  /**
   * What one step of a periodic Redis sweep handles (the hourly rebuild of the active-findings
   * counts: refs per script, groups per ZSCAN, fields per HSCAN; silences moved or deleted per
   * sweep): each step blocks Redis this little.
   */
  MESHDRIFT_MAINTENANCE_BATCH: count(500, 10, 100_000),
  /**
   * Most findings one snapshot may carry (drifted resources of one Argo CD app or Flux object);
   * past it the signal is refused (413 for a webhook) and counted. The default takes a 10,000-resource
   * app with every resource drifted, twice over (a 2 MiB Argo CD body holds about 20,000).
   */
  MESHDRIFT_MAX_SNAPSHOT_FINDINGS: count(20_000, 1, 10_000_000),
  /** Most findings one alert group may hold (several owners can share a group); past it the signal that would grow it is refused. */
  MESHDRIFT_MAX_GROUP_FINDINGS: count(20_000, 1, 10_000_000),
  /**
   * Findings this process holds in memory at once while it ingests snapshots, flushes groups and
   * delivers notifications; more waits its turn (a larger piece runs alone). Sized for the image's
   * 256 MB heap.
   */
  MESHDRIFT_MAX_FINDINGS_IN_FLIGHT: count(10_000, 1, 10_000_000),
  /**
   * The recorder admission webhook (issue #17, sources/admission/): its own HTTPS listener taking
   * AdmissionReview requests from the API server. Off by default; on, it needs a certificate and key.
   */
  MESHDRIFT_ADMISSION: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  MESHDRIFT_ADMISSION_PORT: z
    .string()
    .default('8443')
    .refine((v) => /^\d+$/.test(v) && Number(v) <= 65535, 'must be a TCP port number, 0-65535 (0 picks a free one)')
    .transform(Number),
  MESHDRIFT_ADMISSION_HOST: z.string().min(1).default('0.0.0.0'),
  /** PEM certificate (chain) and key files of the admission listener (cert-manager's tls.crt, tls.key); re-read when they change. */
  MESHDRIFT_ADMISSION_TLS_CERT: optionalPath,
  MESHDRIFT_ADMISSION_TLS_KEY: optionalPath,
  /** How often the certificate files are checked for a rotation. */
  MESHDRIFT_ADMISSION_TLS_RELOAD_INTERVAL: duration('30s').refine((ms) => ms >= 100 && ms <= 3_600_000, 'must be from 100ms to 1h'),
  /** The answer's own deadline: below the webhook's timeoutSeconds (2 s at most), so the API server never waits on meshdrift. */
  MESHDRIFT_ADMISSION_DEADLINE: duration('500ms').refine((ms) => ms >= 50 && ms <= 1_500, 'must be from 50ms to 1500ms (below timeoutSeconds)'),
  /** Largest AdmissionReview body (an UPDATE carries object and oldObject, each up to etcd's 1.5 MiB). */
  MESHDRIFT_ADMISSION_MAX_BODY: byteSize('4MiB').refine((n) => n >= 64 * 1024 && n <= 64 * 1024 * 1024, 'must be between 64KiB and 64MiB'),
  /** Requests waiting to be recorded, off the answer path; past it (or past MESHDRIFT_ADMISSION_QUEUE_BYTES) they are dropped and counted. */
  MESHDRIFT_ADMISSION_QUEUE: count(1000, 1, 1_000_000),
  /** Bytes of request bodies waiting to be recorded. */
  MESHDRIFT_ADMISSION_QUEUE_BYTES: byteSize('64MiB').refine((n) => n >= 1024 * 1024 && n <= 1024 * 1024 * 1024, 'must be between 1MiB and 1024MiB'),
  /** How long an object's admission records are kept after its last write. */
  MESHDRIFT_ADMISSION_TTL: duration('24h').refine((ms) => ms >= 60_000 && ms <= 90 * 86_400_000, 'must be from 1m to 90d'),
  /** Admission records kept per object (the newest). */
  MESHDRIFT_ADMISSION_PER_OBJECT: count(10, 1, 1000),
  /** Admission records kept in all, by every replica (the stream's MAXLEN, approximate). */
  MESHDRIFT_ADMISSION_MAX_RECORDS: count(100_000, 100, 10_000_000),
  /** Usernames in admission records: keep, hash (HMAC-SHA256 with MESHDRIFT_ADMISSION_HASH_KEY) or drop. */
  MESHDRIFT_ADMISSION_USERNAMES: z.enum(['keep', 'hash', 'drop']).default('keep'),
  /** Group names in admission records: keep, hash or drop. */
  MESHDRIFT_ADMISSION_GROUPS: z.enum(['keep', 'hash', 'drop']).default('keep'),
  /** The HMAC key for `hash` (a plain hash of an email address is reversed by a dictionary). */
  MESHDRIFT_ADMISSION_HASH_KEY: optionalSecret,
  /** Also keep userInfo.uid and userInfo.extra (hashed or dropped with the usernames). */
  MESHDRIFT_ADMISSION_USER_DETAILS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** The GitOps controllers' usernames: their writes are recorded as GitOps writes, never a finding. */
  MESHDRIFT_ADMISSION_GITOPS_USERS: z
    .string()
    .default(
      'system:serviceaccount:argocd:argocd-application-controller,system:serviceaccount:flux-system:kustomize-controller,system:serviceaccount:flux-system:helm-controller',
    )
    .transform(commaList),
  /** The cluster name admission findings carry (the one whose API server calls the webhook); default MESHDRIFT_CLUSTER. */
  MESHDRIFT_ADMISSION_CLUSTER: z.string().min(1).optional(),
  /** The namespace of Argo CD's Applications when an object's tracking marker does not name one. */
  MESHDRIFT_ARGOCD_NAMESPACE: z
    .string()
    .default('argocd')
    .refine((ns) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns), 'must be a Kubernetes namespace name'),
  /** Argo CD's label tracking key (application.instanceLabelKey); empty turns label tracking off (annotation tracking only). */
  MESHDRIFT_ARGOCD_INSTANCE_LABEL: z.string().max(317).default('app.kubernetes.io/instance'),
  /** PagerDuty Events API v2 endpoint override (tests, proxies). */
  PAGERDUTY_EVENTS_URL: z.string().url().optional(),
  /**
   * The watch of the mesh objects themselves (issue #16, docs/mesh.md): `on` (default) runs it
   * wherever the Kubernetes watches run (MESHDRIFT_CLUSTERS set, on the leader); `off` never.
   */
  MESHDRIFT_MESH_WATCH: z.enum(['on', 'off']).default('on'),
  /** Namespaces of mesh objects to watch, comma-separated (default all; cluster-scoped kinds only with all). */
  MESHDRIFT_MESH_NAMESPACES: z
    .string()
    .optional()
    .transform(commaList)
    .refine((list) => list.every((ns) => K8S_NAME.test(ns)), 'must be Kubernetes namespace names, comma-separated'),
  /** Most mesh objects checked per cluster; past it, objects are kept as identities only (a warning and a metric). */
  MESHDRIFT_MESH_MAX_OBJECTS: count(50_000, 1, 10_000_000),
  /** Field managers whose writes are the GitOps tools' (the baseline), comma-separated. */
  MESHDRIFT_MESH_GITOPS_MANAGERS: z
    .string()
    .default('argocd-controller,argocd-application-controller,kustomize-controller,helm-controller')
    .transform(commaList)
    .refine((list) => list.length > 0 && list.every((m) => m.length <= 128), 'must be one or more field manager names, comma-separated'),
  /**
   * Field managers whose writes are expected (progressive delivery controllers…): never drift,
   * comma-separated. `before-first-apply` is the API server's name for fields a client-side apply
   * owned before an object moved to server-side apply (Argo CD's and Flux's own migrations).
   */
  MESHDRIFT_MESH_IGNORE_MANAGERS: z
    .string()
    .default('before-first-apply')
    .transform(commaList)
    .refine((list) => list.every((m) => m.length <= 128), 'must be field manager names, comma-separated'),
  /** JSON pointers (RFC 6901) never compared on any mesh object, comma-separated (`/spec/http/0/route`). */
  MESHDRIFT_MESH_IGNORE_PATHS: z
    .string()
    .optional()
    .transform(commaList)
    .refine(
      (list) => list.length <= 100 && list.every((p) => p.startsWith('/') && p.length <= 1024),
      'must be JSON pointers (each starts with /), comma-separated, at most 100',
    ),
  /**
   * Argo CD destinations that are MESHDRIFT_CLUSTERS clusters under another name:
   * `<destination name or server URL>=<meshdrift cluster>`, comma-separated (at most 100). A
   * destination named like a meshdrift cluster needs no entry.
   */
  MESHDRIFT_ARGOCD_DESTINATIONS: z
    .string()
    .optional()
    .transform(commaList)
    .refine(
      (list) => list.length <= 100 && list.every((e) => /^[^=\s]{1,512}=[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(e)),
      'must be <Argo CD destination name or server URL>=<meshdrift cluster name> entries, comma-separated, at most 100',
    )
    .transform((list) => new Map(list.map((e) => [e.slice(0, e.lastIndexOf('=')), e.slice(e.lastIndexOf('=') + 1)] as const))),
  /** Report mesh objects no GitOps tool owns (`report`, default) or not (`off`). */
  MESHDRIFT_MESH_UNMANAGED: z.enum(['report', 'off']).default('report'),
  /** Objects never reported unmanaged: `<namespace>/<Kind>/<name>` patterns, `*` for any run of characters, comma-separated. */
  MESHDRIFT_MESH_UNMANAGED_IGNORE: z
    .string()
    .optional()
    .transform(commaList)
    .refine(
      (list) => list.every((e) => /^[^/]{1,253}\/[^/]{1,253}\/[^/]{1,253}$/.test(e)),
      'must be <namespace>/<Kind>/<name> patterns (each part may be or hold *), comma-separated',
    ),
});

/** Checks between variables, run on the raw environment so they are reported with the others. */
function crossCheck(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [...placeholderSecrets(env)];
  // The built-in policy's Slack receiver posts to SLACK_CHANNEL; a policy file names each receiver's channel.
  if ((env.SLACK_BOT_TOKEN ?? '').trim() !== '' && (env.SLACK_CHANNEL ?? '').trim() === '' && (env.MESHDRIFT_POLICY ?? '').trim() === '') {
    problems.push('  SLACK_CHANNEL: is required when SLACK_BOT_TOKEN is set without MESHDRIFT_POLICY (e.g. #mesh-drift or a channel ID)');
  }
  if ((env.ARGOCD_TOKEN ?? '').trim() !== '' && (env.ARGOCD_URL ?? '').trim() === '') {
    problems.push('  ARGOCD_URL: is required when ARGOCD_TOKEN is set (the Argo CD server to poll, e.g. https://argocd.example.com)');
  }
  problems.push(...admissionProblems(env), ...redisModeProblems(env));
  return problems;
}

const set = (v: string | undefined): boolean => (v ?? '').trim() !== '';

/** One way to reach Redis: REDIS_URL, or Sentinel (both variables), or Cluster. */
function redisModeProblems(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  if (set(env.REDIS_SENTINELS) && set(env.REDIS_CLUSTER_NODES)) problems.push('  REDIS_SENTINELS: set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both');
  if (set(env.REDIS_SENTINELS) !== set(env.REDIS_SENTINEL_NAME)) {
    problems.push('  REDIS_SENTINEL_NAME: REDIS_SENTINELS and REDIS_SENTINEL_NAME go together (the sentinels, and the primary they monitor)');
  }
  if ((set(env.REDIS_SENTINELS) || set(env.REDIS_CLUSTER_NODES)) && set(env.REDIS_URL)) {
    problems.push('  REDIS_URL: leave it unset with REDIS_SENTINELS or REDIS_CLUSTER_NODES (put the password in REDIS_PASSWORD)');
  }
  if (set(env.REDIS_CLUSTER_NODES) && !/\{[^}]+\}/.test(env.MESHDRIFT_KEY_PREFIX ?? '')) {
    problems.push('  MESHDRIFT_KEY_PREFIX: with REDIS_CLUSTER_NODES it must hold a hash tag, e.g. {meshdrift}, so every key and queue shares one slot');
  }
  if (set(env.REDIS_TLS_CERT_FILE) !== set(env.REDIS_TLS_KEY_FILE))
    problems.push('  REDIS_TLS_KEY_FILE: REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together');
  return problems;
}

/** The admission listener needs its certificate; hashing needs its key. */
function admissionProblems(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  if (env.MESHDRIFT_ADMISSION === 'true') {
    for (const name of ['MESHDRIFT_ADMISSION_TLS_CERT', 'MESHDRIFT_ADMISSION_TLS_KEY'] as const) {
      if (!set(env[name])) problems.push(`  ${name}: is required when MESHDRIFT_ADMISSION=true (the API server calls webhooks over HTTPS only)`);
    }
  }
  const hashing = env.MESHDRIFT_ADMISSION_USERNAMES === 'hash' || env.MESHDRIFT_ADMISSION_GROUPS === 'hash';
  if (hashing && !set(env.MESHDRIFT_ADMISSION_HASH_KEY)) {
    problems.push('  MESHDRIFT_ADMISSION_HASH_KEY: is required to hash usernames or groups (a keyed HMAC; e.g. $(openssl rand -hex 32))');
  }
  return problems;
}

/**
 * The validated environment. `kubeSources` is MESHDRIFT_CLUSTERS, MESHDRIFT_WATCH and
 * MESHDRIFT_WATCH_NAMESPACES parsed once, here (config/clusters.ts): the watches and the
 * remediate receivers' `kube.cluster` read it, never the raw variables.
 */
export type Env = z.infer<typeof envSchema> & { readonly kubeSources: KubeSourcesConfig };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Validates the environment; throws a ConfigError naming each bad variable. */
export function loadEnv(env: NodeJS.ProcessEnv = process.env): Env {
  const result = envSchema.safeParse(env);
  const kube = parseKubeSourcesConfig(env);
  const lines = [
    ...(result.success ? [] : result.error.issues.map((i) => `  ${i.path.join('.') || '(environment)'}: ${i.message}`)),
    ...(kube.ok ? [] : kube.errors.map((e) => `  ${e}`)),
    ...crossCheck(env),
  ];
  if (result.success && kube.ok && lines.length === 0) return { ...result.data, kubeSources: kube.value };
  throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
}
