import type { GitForge, GitHosts } from '../config/git-hosts.ts';
import type { GroupLabels } from '../model/alert-group.ts';
import type { OwnerRef } from '../model/signal.ts';
import { type MatcherSpec, printMatcher } from '../route/matcher.ts';

/**
 * Links in notifications: the app in Argo CD's UI and the commit of a Git revision. Built only from
 * URLs meshdrift can check: http(s) and ssh repositories of known forges, with the credentials
 * dropped, path segments of safe characters only, and a revision that is a commit SHA. Anything
 * else links nothing (the revision is still shown as text). Pure.
 */

/** What every receiver needs to build links (ARGOCD_URL, MESHDRIFT_GIT_HOSTS, MESHDRIFT_PUBLIC_URL). */
export interface LinkContext {
  argocdUrl?: string | undefined;
  gitHosts?: GitHosts | undefined;
  /** Where people reach meshdrift (its API and web UI): the silence link of a message. */
  publicUrl?: string | undefined;
}

/** A Git repository location, credentials dropped. */
export interface RepoLocation {
  scheme: 'http' | 'https' | 'ssh';
  /** Lower case, no port. */
  host: string;
  /** The port of an http(s) URL ('' for the default); an ssh port is not the web UI's, so dropped. */
  port: string;
  /** Path segments, percent-encoded as in the URL, without a trailing `.git`. */
  segments: string[];
}

/** Longest repository URL kept (Argo CD has no limit; real ones are far shorter). */
export const MAX_REPO_URL = 2048;

// One path segment: unreserved characters and percent-escapes only (no `|`, `<`, `>`, `&`, quotes).
const SEGMENT = /^(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+$/;
const HOSTNAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
// `git@github.com:org/repo.git` (scp-like ssh): a user, a host, a colon, a relative path.
const SCP = /^(?:[A-Za-z0-9._~-]+@)?([A-Za-z0-9.-]+):(?!\/\/)([^\s]+)$/;
const UNSAFE = /[\s\u0000-\u001F\u007F-\u009F\\]/;
// `.`/`..` segments, which URL parsing would resolve away (`/org/../x` → `/x`), spelt plainly or escaped.
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:\/|$)/i;

/**
 * Parses a repository URL as Argo CD or Flux names it: `https://host/org/repo(.git)`,
 * `ssh://git@host(:port)/org/repo.git`, `git@host:org/repo.git`. Null for any other scheme
 * (`git://`, `file://`, `oci://`), an IP-less odd host, or a path segment with unsafe characters.
 * Userinfo (a token in `https://<token>@github.com/…`) is dropped, never kept.
 */
export function parseRepoUrl(raw: string): RepoLocation | null {
  const text = raw.trim();
  if (text === '' || text.length > MAX_REPO_URL || UNSAFE.test(text) || DOT_SEGMENT.test(text)) return null;
  const scp = text.includes('://') ? null : SCP.exec(text);
  if (scp !== null) return location('ssh', scp[1] ?? '', '', scp[2] ?? '');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.search !== '' || url.hash !== '') return null;
  const scheme = url.protocol === 'https:' ? 'https' : url.protocol === 'http:' ? 'http' : url.protocol === 'ssh:' ? 'ssh' : null;
  if (scheme === null) return null;
  return location(scheme, url.hostname, scheme === 'ssh' ? '' : url.port, url.pathname);
}

function location(scheme: RepoLocation['scheme'], host: string, port: string, path: string): RepoLocation | null {
  const h = host.toLowerCase();
  if (!HOSTNAME.test(h) || h.length > 253) return null;
  const segments = path.split('/').filter((s) => s !== '');
  const last = segments.length - 1;
  if (last >= 0 && segments[last]?.endsWith('.git')) segments[last] = segments[last].slice(0, -'.git'.length);
  if (segments.length === 0 || segments.some((s) => !SEGMENT.test(s) || s === '.' || s === '..')) return null;
  return { scheme, host: h, port, segments };
}

/**
 * The repository URL to keep on a signal: its canonical form without credentials, query or
 * fragment (`https://github.com/org/repo`, `ssh://github.com/org/repo`), or undefined when it is
 * not one meshdrift can link (see {@link parseRepoUrl}).
 */
export function sanitizeRepoUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const loc = parseRepoUrl(raw);
  if (loc === null) return undefined;
  return `${loc.scheme}://${loc.host}${loc.port === '' ? '' : `:${loc.port}`}/${loc.segments.join('/')}`;
}

const BUILTIN_HOSTS: ReadonlyMap<string, GitForge> = new Map([
  ['github.com', 'github'],
  ['ssh.github.com', 'github'],
  ['gitlab.com', 'gitlab'],
  ['altssh.gitlab.com', 'gitlab'],
  ['bitbucket.org', 'bitbucket'],
  ['altssh.bitbucket.org', 'bitbucket'],
  ['codeberg.org', 'gitea'],
  ['gitea.com', 'gitea'],
  ['dev.azure.com', 'azure'],
  ['ssh.dev.azure.com', 'azure'],
  ['vs-ssh.visualstudio.com', 'azure'],
]);
// The web host of a built-in ssh-only host.
const WEB_HOST: Readonly<Record<string, string>> = {
  'ssh.github.com': 'github.com',
  'altssh.gitlab.com': 'gitlab.com',
  'altssh.bitbucket.org': 'bitbucket.org',
  'ssh.dev.azure.com': 'dev.azure.com',
};
// A self-hosted forge named by its first label (`gitlab.corp.example`), when not configured. A
// self-hosted Bitbucket is Bitbucket Server/Data Center (Bitbucket Cloud is bitbucket.org only).
const FIRST_LABEL: Readonly<Record<string, GitForge>> = {
  github: 'github',
  gitlab: 'gitlab',
  gitea: 'gitea',
  forgejo: 'gitea',
  bitbucket: 'bitbucket-server',
  stash: 'bitbucket-server',
};

/** The forge a host runs: MESHDRIFT_GIT_HOSTS first, then the built-in hosts, then the host's first label. */
export function forgeOf(host: string, hosts?: GitHosts): GitForge | undefined {
  const h = host.toLowerCase();
  return hosts?.get(h) ?? BUILTIN_HOSTS.get(h) ?? (h.endsWith('.visualstudio.com') ? 'azure' : FIRST_LABEL[h.split('.')[0] ?? '']);
}

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;
// Flux: `main@sha1:<sha>`, `refs/tags/v1@sha256:<sha>`, `sha1:<sha>`; before Flux 2.0: `main/<sha>`.
const FLUX_SHA = /^(?:.*@)?sha(?:1|256):([0-9a-f]{40}|[0-9a-f]{64})$/i;
const LEGACY_FLUX_SHA = /^[\w./-]+\/([0-9a-f]{40})$/i;

/**
 * The commit SHA a revision names, lower case: a bare 40- or 64-hex SHA, a Flux revision
 * (`main@sha1:<sha>`, `main/<sha>`), or the first SHA of an Argo CD multi-source list (`a,b`).
 * Undefined for a branch, a tag, a chart version or anything else.
 */
export function commitOfRevision(revision: string | undefined): string | undefined {
  if (revision === undefined) return undefined;
  for (const part of revision.split(',').slice(0, 20)) {
    const p = part.trim();
    const sha = SHA.test(p) ? p : (FLUX_SHA.exec(p)?.[1] ?? LEGACY_FLUX_SHA.exec(p)?.[1]);
    if (sha !== undefined) return sha.toLowerCase();
  }
  return undefined;
}

/**
 * The web page of a commit: GitHub and Gitea/Forgejo/Codeberg `/commit/<sha>`, GitLab (subgroups
 * too) `/-/commit/<sha>`, Bitbucket Cloud `/commits/<sha>`, Bitbucket Server/Data Center
 * `/projects/<KEY>/repos/<repo>/commits/<sha>` (personal repositories `/users/<user>/repos/…`),
 * Azure DevOps `…/_git/<repo>/commit/<sha>`. Undefined when the repository, its forge or the SHA
 * is not known. A tag or a branch links nothing.
 */
export function commitUrl(repoURL: string | undefined, revision: string | undefined, hosts?: GitHosts): string | undefined {
  const sha = commitOfRevision(revision);
  const loc = repoURL === undefined ? null : parseRepoUrl(repoURL);
  if (sha === undefined || loc === null) return undefined;
  const forge = forgeOf(loc.host, hosts);
  if (forge === undefined) return undefined;
  const base = repoWebBase(loc, forge);
  if (base === undefined) return undefined;
  const path = forge === 'gitlab' ? '/-/commit/' : forge === 'bitbucket' || forge === 'bitbucket-server' ? '/commits/' : '/commit/';
  return `${base}${path}${sha}`;
}

// The repository's page on its forge (`https://github.com/org/repo`), or undefined if its path does
// not have the forge's shape.
function repoWebBase(loc: RepoLocation, forge: GitForge): string | undefined {
  const host = WEB_HOST[loc.host] ?? loc.host;
  const origin = loc.scheme === 'http' ? `http://${host}${portOf(loc)}` : `https://${host}${portOf(loc)}`;
  const s = loc.segments;
  switch (forge) {
    case 'github':
    case 'bitbucket':
      return s.length === 2 ? `${origin}/${s.join('/')}` : undefined;
    case 'gitlab':
    case 'gitea':
      return s.length >= 2 ? `${origin}/${s.join('/')}` : undefined;
    case 'bitbucket-server':
      return bitbucketServerWebBase(loc, origin);
    case 'azure':
      return azureWebBase(loc, origin);
  }
}

// Bitbucket Server/Data Center clones from `…/scm/<project>/<repo>.git` (http(s), under any context
// path) or `ssh://git@host:7999/<project>/<repo>.git`; its pages are `…/projects/<PROJECT>/repos/<repo>`
// (the project key upper case), and `…/users/<user>/repos/<repo>` for a personal `~user` project.
// Over ssh the web UI is assumed at https on the same host, without a context path.
function bitbucketServerWebBase(loc: RepoLocation, origin: string): string | undefined {
  const s = loc.segments;
  const scm = loc.scheme === 'ssh' ? -1 : s.indexOf('scm');
  if (loc.scheme !== 'ssh' && (scm === -1 || scm !== s.length - 3)) return undefined;
  if (loc.scheme === 'ssh' && s.length !== 2) return undefined;
  const [project, repo] = s.slice(scm + 1) as [string, string];
  const base = `${origin}${scm > 0 ? `/${s.slice(0, scm).join('/')}` : ''}`;
  const personal = /^(?:~|%7E)(.+)$/i.exec(project);
  return personal ? `${base}/users/${personal[1]}/repos/${repo}` : `${base}/projects/${project.toUpperCase()}/repos/${repo}`;
}

const portOf = (loc: RepoLocation): string => (loc.port === '' ? '' : `:${loc.port}`);

// Azure DevOps: https `…/<project>/_git/<repo>` as it is; ssh `v3/<org>/<project>/<repo>` on
// ssh.dev.azure.com (→ dev.azure.com/<org>/…) or vs-ssh.visualstudio.com (→ <org>.visualstudio.com/…).
function azureWebBase(loc: RepoLocation, origin: string): string | undefined {
  const s = loc.segments;
  const git = s.indexOf('_git');
  if (loc.scheme !== 'ssh') return git >= 1 && git === s.length - 2 ? `${origin}/${s.join('/')}` : undefined;
  if (s.length !== 4 || s[0] !== 'v3') return undefined;
  const [, org, project, repo] = s as [string, string, string, string];
  if (loc.host === 'vs-ssh.visualstudio.com') return `https://${org.toLowerCase()}.visualstudio.com/${project}/_git/${repo}`;
  return `${origin}/${org}/${project}/_git/${repo}`;
}

/**
 * The page of an Argo CD Application: `<ARGOCD_URL>/applications/<namespace>/<name>`, the route
 * Argo CD's UI serves for apps in any namespace and in its own (`/applications/:appnamespace/:name`
 * next to `/applications/:name`, argo-cd ui/src/app/applications/components/applications-container.tsx);
 * `/applications/<name>` when the namespace is not known. Parts URL-encoded; the base must be
 * http(s), and its credentials, query and fragment are dropped.
 */
export function argocdAppUrl(argocdUrl: string | undefined, owner: OwnerRef): string | undefined {
  if (argocdUrl === undefined || argocdUrl.trim() === '' || owner.kind !== 'Application') return undefined;
  let url: URL;
  try {
    url = new URL(argocdUrl.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  const base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  const path = owner.namespace === '' ? encodeURIComponent(owner.name) : `${encodeURIComponent(owner.namespace)}/${encodeURIComponent(owner.name)}`;
  return `${base}/applications/${path}`;
}

/**
 * An http(s) URL meshdrift links from (MESHDRIFT_PUBLIC_URL, ARGOCD_URL): scheme, host and path,
 * the path without a trailing `/`; credentials, query and fragment dropped. Undefined for any
 * other scheme or a URL that does not parse.
 */
export function httpBase(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** Matchers a silence link carries at most (a `group_by: ['...']` group has one per label). */
export const MAX_SILENCE_LINK_MATCHERS = 30;
/** Longest silence link: one value too long for it leaves the link out rather than cut a matcher. */
export const MAX_SILENCE_LINK = 8_000;

/**
 * The matchers that pick out one alert group: its `group_by` label values when the route groups by
 * labels, else its cluster and owner (owner kind, namespace and name). The Slack "Silence" buttons
 * (deliver/slack/actions.ts silenceMatchersFor) and the web page's incident "Silence…" use it too:
 * a silence made from any of them covers the same findings.
 */
export function groupMatchers(labels: Pick<GroupLabels, 'cluster' | 'owner' | 'groupBy'>): MatcherSpec[] {
  const by = Object.entries(labels.groupBy ?? {});
  if (by.length > 0) return by.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, value]) => ({ name, op: '=' as const, value }));
  return [
    { name: 'cluster', op: '=', value: labels.cluster },
    { name: 'owner_kind', op: '=', value: labels.owner.kind },
    { name: 'owner_namespace', op: '=', value: labels.owner.namespace },
    { name: 'owner', op: '=', value: labels.owner.name },
  ];
}

/**
 * The web UI's "new silence" page, filled in for one alert group:
 * `<MESHDRIFT_PUBLIC_URL>/ui/silences/new?matcher=<m>&matcher=<m>…`, each `m` one Alertmanager
 * matcher `name="value"` (printMatcher: `\`, `"` and newlines escaped), URL-encoded. The contract
 * with the page that reads it (the web UI). Undefined without MESHDRIFT_PUBLIC_URL, or when the
 * group has more matchers or longer values than a link should carry.
 */
export function silenceUrl(publicUrl: string | undefined, labels: Pick<GroupLabels, 'cluster' | 'owner' | 'groupBy'>): string | undefined {
  const base = httpBase(publicUrl);
  if (base === undefined) return undefined;
  const matchers = groupMatchers(labels);
  if (matchers.length > MAX_SILENCE_LINK_MATCHERS) return undefined;
  const url = `${base}/ui/silences/new?${matchers.map((m) => `matcher=${encodeURIComponent(printMatcher(m))}`).join('&')}`;
  return url.length > MAX_SILENCE_LINK ? undefined : url;
}

/** The links of one finding (absent when they cannot be built). */
export interface FindingLinks {
  argocd?: string;
  commit?: string;
}

/** The Argo CD app and commit links of a finding (an Argo CD Application owner; a linkable revision). */
export function findingLinks(
  f: { tool: string; owner: OwnerRef; revision?: string | undefined; repoURL?: string | undefined },
  ctx: LinkContext | undefined,
): FindingLinks {
  const argocd = f.tool === 'argocd' ? argocdAppUrl(ctx?.argocdUrl, f.owner) : undefined;
  const commit = commitUrl(f.repoURL, f.revision, ctx?.gitHosts);
  return { ...(argocd === undefined ? {} : { argocd }), ...(commit === undefined ? {} : { commit }) };
}

/** A short SHA for link text (12 characters, as `git log --abbrev=12`), or the revision cut to `max`. */
export function shortRevision(revision: string, max = 40): string {
  const sha = commitOfRevision(revision);
  if (sha !== undefined) return sha.slice(0, 12);
  return revision.length > max ? `${revision.slice(0, max - 1)}…` : revision;
}
