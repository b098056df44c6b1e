import { ConfigError, type Env, type Openable } from '../config/env.ts';
import type { Logger } from '../log.ts';
import type { Senders } from './senders.ts';

/**
 * What each endpoint of `meshdrift serve` takes, for the start log and the refusal to run open
 * endpoints nobody asked for (issue #12). Never a secret: names of credentials and where they are
 * read from only.
 */
export interface Exposure {
  /** Path → how it is protected, one line each. */
  endpoints: Record<string, string>;
  /** Endpoints without authentication. */
  open: Openable[];
  /** Open endpoints MESHDRIFT_ALLOW_UNAUTHENTICATED does not list: serve refuses to start. */
  refused: Openable[];
}

const PATHS: Record<Openable, string> = { argocd: '/webhooks/argocd', flux: '/webhooks/flux', api: '/api/v1' };
const HOW_TO_CLOSE: Record<Openable, string> = {
  argocd: 'set MESHDRIFT_ARGOCD_TOKEN or an argocd sender in MESHDRIFT_SENDERS_FILE',
  flux: 'set MESHDRIFT_FLUX_HMAC_KEY (or MESHDRIFT_FLUX_TOKEN) or a flux sender in MESHDRIFT_SENDERS_FILE',
  api: 'set MESHDRIFT_API_TOKEN',
};

export function describeExposure(env: Env, senders: Senders): Exposure {
  const allowed = new Set(env.MESHDRIFT_ALLOW_UNAUTHENTICATED);
  const endpoints: Record<string, string> = {};
  const open: Openable[] = [];
  for (const tool of ['argocd', 'flux'] as const) {
    const mine = senders.list().filter((s) => s.tool === tool);
    if (mine.length === 0) {
      open.push(tool);
      endpoints[PATHS[tool]] = `OPEN: no authentication${allowed.has(tool) ? ' (MESHDRIFT_ALLOW_UNAUTHENTICATED)' : ''}; any sender, any cluster`;
    } else {
      endpoints[PATHS[tool]] = mine
        .map(
          (s) =>
            `${s.name} (${s.kind === 'hmac' ? 'HMAC signature' : 'bearer token'} from ${s.from}; clusters ${s.clusters === 'any' ? 'any' : s.clusters.join(',')}${s.projects ? `; projects ${s.projects.join(',')}` : ''}${s.namespaces ? `; namespaces ${s.namespaces.join(',')}` : ''})`,
        )
        .join(' | ');
    }
  }
  if (env.MESHDRIFT_API_TOKEN === undefined) {
    open.push('api');
    endpoints[PATHS.api] =
      `OPEN: no authentication${allowed.has('api') ? ' (MESHDRIFT_ALLOW_UNAUTHENTICATED)' : ''}; anyone can read alerts and create silences`;
  } else {
    endpoints[PATHS.api] = 'bearer token from MESHDRIFT_API_TOKEN';
  }
  // The Alertmanager-compatible API (issue #18) is the same API behind the same token.
  endpoints['/api/v2'] = `as ${PATHS.api} (same token, same silences)`;
  // The web page (issue #21): who is believed, who may write.
  const proxies = env.MESHDRIFT_UI_TRUSTED_PROXIES;
  endpoints['/ui'] =
    `${proxies.length === 0 ? 'no proxy trusted' : `proxy user header ${env.MESHDRIFT_UI_USER_HEADER} from ${proxies.join(',')}`}; API token; ${env.MESHDRIFT_API_TOKEN === undefined ? 'others read (the API is open)' : 'others 401'}; writers: ${env.MESHDRIFT_UI_WRITERS.length === 0 ? 'nobody' : env.MESHDRIFT_UI_WRITERS.join(',')}`;
  endpoints['/slack/actions'] = env.SLACK_SIGNING_SECRET === undefined ? 'off (no SLACK_SIGNING_SECRET)' : 'Slack request signature (SLACK_SIGNING_SECRET)';
  // The API server calls admission webhooks without a client credential: whoever reaches the port
  // can post a review. What it records is told (and shown as such) until a watch event confirms it.
  endpoints['/admission'] = env.MESHDRIFT_ADMISSION
    ? `HTTPS on ${env.MESHDRIFT_ADMISSION_HOST}:${env.MESHDRIFT_ADMISSION_PORT}, no client authentication (the API server sends none: keep it behind the NetworkPolicy); records are told until a watch event confirms them; always allows`
    : 'off (MESHDRIFT_ADMISSION)';
  endpoints['/metrics /healthz /readyz'] = 'open, read-only';
  return { endpoints, open, refused: open.filter((o) => !allowed.has(o)) };
}

/** Throws a ConfigError naming each open endpoint MESHDRIFT_ALLOW_UNAUTHENTICATED does not allow. */
export function assertNothingOpenByAccident(exposure: Exposure): void {
  if (exposure.refused.length === 0) return;
  const lines = exposure.refused.map(
    (o) =>
      `  MESHDRIFT_ALLOW_UNAUTHENTICATED: ${PATHS[o]} would be open to anyone who reaches the port: ${HOW_TO_CLOSE[o]}, or add "${o}" to MESHDRIFT_ALLOW_UNAUTHENTICATED to run it open on purpose`,
  );
  throw new ConfigError(`refusing to start with unauthenticated endpoints:\n${lines.join('\n')}`);
}

/**
 * Secure by default, at every start: refuses (ConfigError) an endpoint open to anyone unless
 * MESHDRIFT_ALLOW_UNAUTHENTICATED says so, then says what is open (warn) or that every write
 * endpoint is authenticated (info).
 */
export function announceExposure(env: Env, senders: Senders, log: Logger): void {
  const exposure = describeExposure(env, senders);
  assertNothingOpenByAccident(exposure);
  const fields = { endpoints: exposure.endpoints, open: exposure.open };
  if (exposure.open.length > 0) log.warn(fields, `endpoints open without authentication: ${exposure.open.join(', ')}`);
  else log.info(fields, 'every write endpoint is authenticated');
}
