import { createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, type Env } from '../config/env.ts';
import { placeholderProblem } from '../config/secrets.ts';
import { bearerDigest, tokenDigest, verifyFluxSignature, type VerifyResult } from './verify-signature.ts';

/**
 * Sender credentials (issue #12): who may post to the webhooks, and which clusters (Argo CD
 * projects, namespaces) each may speak for. From MESHDRIFT_SENDERS_FILE, plus the single legacy
 * variables (MESHDRIFT_ARGOCD_TOKEN, MESHDRIFT_FLUX_HMAC_KEY, MESHDRIFT_FLUX_TOKEN), which speak for
 * MESHDRIFT_LEGACY_SENDER_CLUSTERS (default: MESHDRIFT_CLUSTER alone).
 */

export const MAX_SENDERS = 100;
const NAME = /^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const scopeList = (what: string) =>
  z
    .array(z.string().min(1, `${what} must not be empty strings`).max(253))
    .min(1, `${what}: list at least one (or leave the key out)`)
    .max(100, `${what}: at most 100`);

export const senderSchema = z
  .strictObject({
    /** Shown in logs and in the `sender` label of meshdrift_webhook_refused_total. */
    name: z.string().regex(NAME, 'lower-case letters, digits, - _ . (at most 63), starting and ending with a letter or digit'),
    tool: z.enum(['argocd', 'flux']),
    /** A bearer token, read from this file (a mounted Secret key). */
    token_file: z.string().min(1).optional(),
    /** A bearer token, read from this environment variable. */
    token_env: z.string().regex(ENV_NAME, 'must be an environment variable name').optional(),
    /** Flux `generic-hmac`: the HMAC key, read from this file. */
    hmac_key_file: z.string().min(1).optional(),
    /** Flux `generic-hmac`: the HMAC key, read from this environment variable. */
    hmac_key_env: z.string().regex(ENV_NAME, 'must be an environment variable name').optional(),
    /** Clusters the sender may speak for; `["*"]`: any. */
    clusters: scopeList('clusters'),
    /** Argo CD only: the projects (spec.project) of the Applications it may report. Absent: any. */
    projects: scopeList('projects').optional(),
    /** Namespaces of the reporting object (the Application, or Flux's involvedObject). Absent: any. */
    namespaces: scopeList('namespaces').optional(),
  })
  .superRefine((s, ctx) => {
    const given = (['token_file', 'token_env', 'hmac_key_file', 'hmac_key_env'] as const).filter((k) => s[k] !== undefined);
    if (given.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one of token_file, token_env, hmac_key_file, hmac_key_env (got ${given.length === 0 ? 'none' : given.join(', ')})`,
      });
    if (s.tool === 'argocd' && (s.hmac_key_file !== undefined || s.hmac_key_env !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'Argo CD cannot sign its webhooks: use token_file or token_env' });
    }
    if (s.tool === 'flux' && s.projects !== undefined)
      ctx.addIssue({ code: 'custom', path: ['projects'], message: 'projects are Argo CD projects: only for tool argocd' });
    if (s.clusters.includes('*') && s.clusters.length > 1) ctx.addIssue({ code: 'custom', path: ['clusters'], message: '"*" (any cluster) stands alone' });
  });

export const sendersFileSchema = z.strictObject({
  senders: z
    .array(senderSchema)
    .max(MAX_SENDERS, `at most ${MAX_SENDERS} senders`)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      for (const [i, s] of list.entries()) {
        if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `sender name "${s.name}" is used twice` });
        seen.add(s.name);
      }
    }),
});

export type Tool = 'argocd' | 'flux';

/** One credential and what it may speak for. */
export interface Sender {
  name: string;
  tool: Tool;
  kind: 'token' | 'hmac';
  /** Where the secret came from (a variable or file name, never the value), for the start log. */
  from: string;
  /** 'any': every cluster. */
  clusters: readonly string[] | 'any';
  projects?: readonly string[];
  namespaces?: readonly string[];
}

interface Credential extends Sender {
  secret: string;
  /** SHA-256 of a token, computed once. */
  digest: Buffer;
}

/** An HMAC key prepared once (a string key is turned into a key object on every signature otherwise). */
const hmacKeys = new WeakMap<Credential, KeyObject | ''>();
const hmacKeyOf = (c: Credential): KeyObject | '' => {
  let key = hmacKeys.get(c);
  if (key === undefined) hmacKeys.set(c, (key = c.secret === '' ? '' : createSecretKey(Buffer.from(c.secret, 'utf8'))));
  return key;
};

/** What a request claims to speak for. */
export interface Claim {
  cluster: string;
  project?: string | undefined;
  namespace?: string | undefined;
}

export type ScopeRefusal = 'cluster' | 'project' | 'namespace';

export interface Senders {
  /** Whether a tool's webhook takes credentials at all (else it is open). */
  has(tool: Tool): boolean;
  list(): readonly Sender[];
  /**
   * Authenticates a request to `tool`'s webhook against every credential of that tool (all are
   * compared, whichever matches, so the time taken does not say which one did).
   */
  authenticate(
    tool: Tool,
    request: { authorization?: string | undefined; signature?: string | undefined; raw: Buffer },
  ): { ok: true; sender: Sender } | { ok: false; reason: string };
}

/** The cluster a sender's request speaks for: the one it names, else its only cluster, else `fallback`. */
export function claimedCluster(named: string | undefined, sender: Sender | undefined, fallback: string): string {
  if (named !== undefined && named !== '') return named;
  if (sender && sender.clusters !== 'any' && sender.clusters.length === 1 && sender.clusters[0] !== undefined) return sender.clusters[0];
  return fallback;
}

/** Why `sender` may not speak for `claim`, or undefined when it may. */
export function scopeRefusal(sender: Sender, claim: Claim): ScopeRefusal | undefined {
  if (sender.clusters !== 'any' && !sender.clusters.includes(claim.cluster)) return 'cluster';
  if (sender.projects !== undefined && (claim.project === undefined || !sender.projects.includes(claim.project))) return 'project';
  if (sender.namespaces !== undefined && (claim.namespace === undefined || !sender.namespaces.includes(claim.namespace))) return 'namespace';
  return undefined;
}

/** The legacy variables' cluster scope: MESHDRIFT_LEGACY_SENDER_CLUSTERS, else MESHDRIFT_CLUSTER. */
function legacyScope(env: Env): readonly string[] | 'any' {
  const list = env.MESHDRIFT_LEGACY_SENDER_CLUSTERS;
  if (list.length === 0) return [env.MESHDRIFT_CLUSTER];
  return list.includes('*') ? 'any' : list;
}

/**
 * Builds the credentials from the environment and MESHDRIFT_SENDERS_FILE; throws a ConfigError that
 * names each bad entry (never a secret's value).
 */
export function loadSenders(env: Env, processEnv: NodeJS.ProcessEnv, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): Senders {
  const credentials: Credential[] = [];
  const problems: string[] = [];
  const legacy = legacyScope(env);
  const addLegacy = (name: string, tool: Tool, kind: 'token' | 'hmac', variable: string, secret: string | undefined) => {
    if (secret !== undefined) credentials.push({ name, tool, kind, from: variable, secret, digest: tokenDigest(secret), clusters: legacy });
  };
  addLegacy('argocd-token', 'argocd', 'token', 'MESHDRIFT_ARGOCD_TOKEN', env.MESHDRIFT_ARGOCD_TOKEN);
  addLegacy('flux-hmac-key', 'flux', 'hmac', 'MESHDRIFT_FLUX_HMAC_KEY', env.MESHDRIFT_FLUX_HMAC_KEY);
  addLegacy('flux-token', 'flux', 'token', 'MESHDRIFT_FLUX_TOKEN', env.MESHDRIFT_FLUX_TOKEN);

  const file = env.MESHDRIFT_SENDERS_FILE;
  if (file !== undefined) {
    let doc: unknown;
    try {
      doc = parseYaml(readFile(file));
    } catch (err) {
      throw new ConfigError(`invalid environment:\n  MESHDRIFT_SENDERS_FILE: ${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
    const parsed = sendersFileSchema.safeParse(doc);
    if (!parsed.success) {
      const lines = parsed.error.issues.slice(0, 20).map((i) => `  MESHDRIFT_SENDERS_FILE: ${file}: ${i.path.map(String).join('.') || '(file)'}: ${i.message}`);
      throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
    }
    for (const [i, s] of parsed.data.senders.entries()) {
      const where = `${file}: senders.${i} (${s.name})`;
      const kind = s.hmac_key_env !== undefined || s.hmac_key_file !== undefined ? 'hmac' : 'token';
      const variable = s.token_env ?? s.hmac_key_env;
      const path = s.token_file ?? s.hmac_key_file;
      let secret: string | undefined;
      let from: string;
      if (variable !== undefined) {
        from = `env ${variable}`;
        secret = processEnv[variable]?.trim();
        if (secret === undefined || secret === '') problems.push(`  MESHDRIFT_SENDERS_FILE: ${where}: variable ${variable} is not set`);
      } else {
        from = `file ${path ?? ''}`;
        try {
          secret = readFile(path ?? '').trim();
          if (secret === '') problems.push(`  MESHDRIFT_SENDERS_FILE: ${where}: ${path} is empty`);
        } catch (err) {
          problems.push(`  MESHDRIFT_SENDERS_FILE: ${where}: cannot read ${path}: ${err instanceof Error && 'code' in err ? String(err.code) : 'error'}`);
        }
      }
      if (secret === undefined || secret === '') continue;
      const placeholder = placeholderProblem(secret, true);
      if (placeholder !== undefined) {
        problems.push(`  MESHDRIFT_SENDERS_FILE: ${where}: the secret in ${from} ${placeholder}`);
        continue;
      }
      if (credentials.some((c) => c.name === s.name)) {
        problems.push(`  MESHDRIFT_SENDERS_FILE: ${where}: the name is taken by the credential of a MESHDRIFT_* variable`);
        continue;
      }
      credentials.push({
        name: s.name,
        tool: s.tool,
        kind,
        from,
        secret,
        digest: tokenDigest(secret),
        clusters: s.clusters.includes('*') ? 'any' : s.clusters,
        ...(s.projects ? { projects: s.projects } : {}),
        ...(s.namespaces ? { namespaces: s.namespaces } : {}),
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid environment:\n${problems.join('\n')}`);

  const view = (c: Credential): Sender => {
    const { secret: _secret, digest: _digest, ...sender } = c;
    return sender;
  };
  const senders = credentials.map(view);

  /** Checks every credential of the list; the first that matched wins, after all were checked. */
  const checkAll = (list: readonly Credential[], verify: (c: Credential) => VerifyResult): { ok: true; sender: Sender } | { ok: false; reason: string } => {
    let matched: Credential | undefined;
    let reason = 'no credential configured';
    for (const c of list) {
      const result = verify(c);
      if (result.ok) matched ??= c;
      else if (reason === 'no credential configured') reason = result.reason;
    }
    return matched ? { ok: true, sender: view(matched) } : { ok: false, reason };
  };

  // Each tool's credentials by kind, sorted once (every webhook request is checked against them).
  const kindsOf = (tool: Credential['tool']) => {
    const mine = credentials.filter((c) => c.tool === tool);
    return { hmac: mine.filter((c) => c.kind === 'hmac'), tokens: mine.filter((c) => c.kind === 'token') };
  };
  const byTool = { argocd: kindsOf('argocd'), flux: kindsOf('flux') };

  return {
    has: (tool) => credentials.some((c) => c.tool === tool),
    list: () => senders,
    authenticate(tool, request) {
      const { hmac, tokens } = byTool[tool];
      const signed = (request.signature?.trim() ?? '') !== '';
      // A signature is checked when one is sent (or when only HMAC keys are configured, to say it is missing).
      if (hmac.length > 0 && (signed || tokens.length === 0)) return checkAll(hmac, (c) => verifyFluxSignature(request.raw, request.signature, hmacKeyOf(c)));
      // The given token is hashed once, then compared with every configured digest.
      const given = bearerDigest(request.authorization);
      if (!given.ok) return given;
      return checkAll(tokens, (c) => (timingSafeEqual(given.digest, c.digest) ? { ok: true } : { ok: false, reason: 'invalid bearer token' }));
    },
  };
}
