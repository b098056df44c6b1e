/**
 * Which web UI a Git host runs, so a revision can be linked to its commit page
 * (src/deliver/links.ts). The well-known hosts are built in; `MESHDRIFT_GIT_HOSTS` adds self-hosted
 * ones (`git.corp.example=gitlab,code.internal=gitea`) and overrides the built-in ones.
 */

/** The URL layouts meshdrift knows (docs/reference.md `MESHDRIFT_GIT_HOSTS`). */
export const GIT_FORGES = ['github', 'gitlab', 'bitbucket', 'bitbucket-server', 'gitea', 'azure'] as const;
export type GitForge = (typeof GIT_FORGES)[number];

/** Host (lower case, no port) → forge. */
export type GitHosts = ReadonlyMap<string, GitForge>;

const MAX_HOSTS = 100;
// A DNS name (labels of letters, digits and hyphens), optionally with a port: never a path or userinfo.
const HOST = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

const isForge = (s: string): s is GitForge => (GIT_FORGES as readonly string[]).includes(s);

/**
 * Parses `host=forge[,host=forge…]`. Returns the map, or the problems (each naming the entry, never
 * more than the entry's own text).
 */
export function parseGitHosts(text: string | undefined): { ok: true; hosts: GitHosts } | { ok: false; problems: string[] } {
  const hosts = new Map<string, GitForge>();
  const problems: string[] = [];
  const entries = (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (entries.length > MAX_HOSTS) return { ok: false, problems: [`at most ${MAX_HOSTS} hosts (got ${entries.length})`] };
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const host = (eq === -1 ? entry : entry.slice(0, eq)).trim().toLowerCase();
    const forge =
      eq === -1
        ? ''
        : entry
            .slice(eq + 1)
            .trim()
            .toLowerCase();
    if (!HOST.test(host)) problems.push(`"${entry.slice(0, 80)}": the host must be a DNS name without scheme, port or path`);
    else if (!isForge(forge)) problems.push(`"${entry.slice(0, 80)}": the forge must be one of ${GIT_FORGES.join(', ')}`);
    else hosts.set(host, forge);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, hosts };
}
