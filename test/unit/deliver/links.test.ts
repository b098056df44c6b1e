import { describe, expect, it } from 'vitest';
import { parseGitHosts } from '../../../src/config/git-hosts.ts';
import {
  argocdAppUrl,
  commitOfRevision,
  commitUrl,
  findingLinks,
  forgeOf,
  httpBase,
  parseRepoUrl,
  sanitizeRepoUrl,
  silenceUrl,
} from '../../../src/deliver/links.ts';
import { parseMatcher } from '../../../src/route/matcher.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const SHA256 = 'a'.repeat(64);

describe('commitUrl: a commit page per forge and URL form', () => {
  it.each([
    ['GitHub https', 'https://github.com/org/repo.git', `https://github.com/org/repo/commit/${SHA}`],
    ['GitHub https without .git', 'https://github.com/org/repo', `https://github.com/org/repo/commit/${SHA}`],
    ['GitHub scp-like ssh', 'git@github.com:org/repo.git', `https://github.com/org/repo/commit/${SHA}`],
    ['GitHub ssh URL', 'ssh://git@github.com/org/repo.git', `https://github.com/org/repo/commit/${SHA}`],
    ['GitHub ssh over 443', 'ssh://git@ssh.github.com:443/org/repo.git', `https://github.com/org/repo/commit/${SHA}`],
    ['GitLab', 'https://gitlab.com/group/repo.git', `https://gitlab.com/group/repo/-/commit/${SHA}`],
    ['GitLab subgroups', 'https://gitlab.com/group/sub/deeper/repo.git', `https://gitlab.com/group/sub/deeper/repo/-/commit/${SHA}`],
    ['GitLab subgroups over ssh', 'git@gitlab.com:group/sub/repo.git', `https://gitlab.com/group/sub/repo/-/commit/${SHA}`],
    ['Bitbucket Cloud', 'https://bitbucket.org/workspace/repo.git', `https://bitbucket.org/workspace/repo/commits/${SHA}`],
    ['Bitbucket Cloud ssh', 'git@bitbucket.org:workspace/repo.git', `https://bitbucket.org/workspace/repo/commits/${SHA}`],
    ['Codeberg (Forgejo)', 'https://codeberg.org/org/repo.git', `https://codeberg.org/org/repo/commit/${SHA}`],
    ['Gitea', 'ssh://git@gitea.com/org/repo.git', `https://gitea.com/org/repo/commit/${SHA}`],
    ['Azure DevOps https', 'https://dev.azure.com/org/project/_git/repo', `https://dev.azure.com/org/project/_git/repo/commit/${SHA}`],
    ['Azure DevOps project with a space', 'https://dev.azure.com/org/My%20Project/_git/repo', `https://dev.azure.com/org/My%20Project/_git/repo/commit/${SHA}`],
    ['Azure DevOps ssh', 'git@ssh.dev.azure.com:v3/org/project/repo', `https://dev.azure.com/org/project/_git/repo/commit/${SHA}`],
    ['Azure DevOps legacy https', 'https://org.visualstudio.com/project/_git/repo', `https://org.visualstudio.com/project/_git/repo/commit/${SHA}`],
    ['Azure DevOps legacy ssh', 'org@vs-ssh.visualstudio.com:v3/Org/project/repo', `https://org.visualstudio.com/project/_git/repo/commit/${SHA}`],
    ['self-hosted GitLab by its first label', 'https://gitlab.corp.example/platform/mesh.git', `https://gitlab.corp.example/platform/mesh/-/commit/${SHA}`],
    ['self-hosted http with a port', 'http://gitea.lan:3000/org/repo.git', `http://gitea.lan:3000/org/repo/commit/${SHA}`],
    ['Bitbucket Server https', 'https://bitbucket.corp.example/scm/plat/mesh.git', `https://bitbucket.corp.example/projects/PLAT/repos/mesh/commits/${SHA}`],
    [
      'Bitbucket Server under a context path',
      'https://bitbucket.corp.example/bitbucket/scm/plat/mesh.git',
      `https://bitbucket.corp.example/bitbucket/projects/PLAT/repos/mesh/commits/${SHA}`,
    ],
    ['Bitbucket Server ssh', 'ssh://git@bitbucket.corp.example:7999/plat/mesh.git', `https://bitbucket.corp.example/projects/PLAT/repos/mesh/commits/${SHA}`],
    ['Bitbucket Server personal repo', 'https://stash.corp.example/scm/~alice/mesh.git', `https://stash.corp.example/users/alice/repos/mesh/commits/${SHA}`],
  ])('%s', (_name, repo, url) => {
    expect(commitUrl(repo, SHA)).toBe(url);
  });

  it('drops credentials: a token in the URL never reaches a link', () => {
    const url = commitUrl('https://x-access-token:ghp_SECRET@github.com/org/repo.git', SHA);
    expect(url).toBe(`https://github.com/org/repo/commit/${SHA}`);
    expect(commitUrl('https://oauth2:glpat-SECRET@gitlab.com/g/r.git', SHA)).not.toContain('SECRET');
    expect(sanitizeRepoUrl('https://user:pass@github.com/org/repo.git')).toBe('https://github.com/org/repo');
    expect(sanitizeRepoUrl('git@github.com:org/repo.git')).toBe('ssh://github.com/org/repo');
  });

  it.each([
    ['git://', 'git://github.com/org/repo.git'],
    ['file://', 'file:///srv/git/repo.git'],
    ['oci://', 'oci://ghcr.io/org/charts'],
    ['javascript:', 'javascript:alert(1)//github.com/org/repo'],
    ['a query', 'https://github.com/org/repo?x=1'],
    ['a fragment', 'https://github.com/org/repo#x'],
    ['a pipe in the path', 'https://github.com/org/re|po'],
    ['angle brackets', 'https://github.com/org/<!here>'],
    ['a dot-dot segment', 'https://github.com/org/../x'],
    ['whitespace', 'https://github.com/org/re po'],
    ['a line break', 'https://github.com/org/repo\nx'],
    ['too long', `https://github.com/org/${'r'.repeat(2100)}`],
  ])('links nothing for %s', (_name, repo) => {
    expect(parseRepoUrl(repo)).toBeNull();
    expect(commitUrl(repo, SHA)).toBeUndefined();
    expect(sanitizeRepoUrl(repo)).toBeUndefined();
  });

  it('links nothing for an unknown host, a wrong path shape, or no repository', () => {
    expect(commitUrl('https://git.corp.example/org/repo.git', SHA)).toBeUndefined();
    expect(commitUrl('https://github.com/org/repo/extra', SHA)).toBeUndefined();
    expect(commitUrl('https://dev.azure.com/org/project/repo', SHA)).toBeUndefined();
    expect(commitUrl(undefined, SHA)).toBeUndefined();
  });

  it('Bitbucket Server: only its clone shapes link; MESHDRIFT_GIT_HOSTS names one on any host', () => {
    expect(commitUrl('https://bitbucket.corp.example/plat/mesh.git', SHA)).toBeUndefined();
    expect(commitUrl('https://bitbucket.corp.example/scm/plat/mesh/extra.git', SHA)).toBeUndefined();
    const parsed = parseGitHosts('code.corp.example=bitbucket-server');
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    expect(commitUrl('https://code.corp.example/scm/ops/fleet.git', `main@sha1:${SHA}`, parsed.hosts)).toBe(
      `https://code.corp.example/projects/OPS/repos/fleet/commits/${SHA}`,
    );
  });

  it('MESHDRIFT_GIT_HOSTS names self-hosted forges and overrides the built-in guess', () => {
    const parsed = parseGitHosts('git.corp.example=gitlab, code.internal=GITEA,gitlab.legacy.example=github');
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    expect(commitUrl('https://git.corp.example/a/b/c.git', SHA, parsed.hosts)).toBe(`https://git.corp.example/a/b/c/-/commit/${SHA}`);
    expect(commitUrl('git@code.internal:org/repo.git', SHA, parsed.hosts)).toBe(`https://code.internal/org/repo/commit/${SHA}`);
    expect(forgeOf('gitlab.legacy.example', parsed.hosts)).toBe('github');
    expect(parseGitHosts('https://x.example=gitlab').ok).toBe(false);
    expect(parseGitHosts('x.example=svn').ok).toBe(false);
    expect(parseGitHosts('x.example/path=gitlab').ok).toBe(false);
  });
});

describe('commitOfRevision: only what looks like a commit', () => {
  it.each([
    [SHA, SHA],
    [SHA.toUpperCase(), SHA],
    [SHA256, SHA256],
    [`main@sha1:${SHA}`, SHA],
    [`refs/heads/main@sha1:${SHA}`, SHA],
    [`v1.2.3@sha1:${SHA}`, SHA],
    [`sha1:${SHA}`, SHA],
    [`main@sha256:${SHA256}`, SHA256],
    [`master/${SHA}`, SHA],
    [`1.2.3,${SHA}`, SHA],
  ])('%s → %s', (revision, sha) => {
    expect(commitOfRevision(revision)).toBe(sha);
  });

  it.each(['main', 'v1.2.3', '6.3.5', 'HEAD', SHA.slice(0, 12), `${SHA}0`, 'main@sha1:xyz', ''])(
    '%s: none (a tag, branch or chart links nothing)',
    (revision) => {
      expect(commitOfRevision(revision)).toBeUndefined();
      expect(commitUrl('https://github.com/org/repo', revision)).toBeUndefined();
    },
  );
});

describe('argocdAppUrl', () => {
  const app = { kind: 'Application', namespace: 'argocd', name: 'payments' };

  it('links /applications/<namespace>/<name> (apps in any namespace and in argocd), parts URL-encoded', () => {
    expect(argocdAppUrl('https://argocd.example.com/', app)).toBe('https://argocd.example.com/applications/argocd/payments');
    expect(argocdAppUrl('https://cd.example.com/argo-cd', { ...app, namespace: 'team a' })).toBe(
      'https://cd.example.com/argo-cd/applications/team%20a/payments',
    );
    expect(argocdAppUrl('https://argocd.example.com', { ...app, namespace: '' })).toBe('https://argocd.example.com/applications/payments');
    expect(argocdAppUrl('https://argocd.example.com', { ...app, name: 'a|b<c>' })).toBe('https://argocd.example.com/applications/argocd/a%7Cb%3Cc%3E');
  });

  it('drops credentials, query and fragment of the base; refuses other schemes and other owners', () => {
    expect(argocdAppUrl('https://admin:pw@argocd.example.com/?x=1#y', app)).toBe('https://argocd.example.com/applications/argocd/payments');
    expect(argocdAppUrl('javascript:alert(1)', app)).toBeUndefined();
    expect(argocdAppUrl(undefined, app)).toBeUndefined();
    expect(argocdAppUrl('https://argocd.example.com', { kind: 'Kustomization', namespace: 'flux-system', name: 'apps' })).toBeUndefined();
  });

  it('findingLinks: the Argo CD link only for an Argo CD finding; the commit link for any tool', () => {
    const ctx = { argocdUrl: 'https://argocd.example.com' };
    const flux = {
      tool: 'flux',
      owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'apps' },
      revision: `main@sha1:${SHA}`,
      repoURL: 'https://github.com/org/fleet',
    };
    expect(findingLinks(flux, ctx)).toEqual({ commit: `https://github.com/org/fleet/commit/${SHA}` });
    expect(findingLinks({ tool: 'argocd', owner: app, revision: SHA }, ctx)).toEqual({ argocd: 'https://argocd.example.com/applications/argocd/payments' });
  });
});

describe("silenceUrl: the web UI's new-silence page for one alert group", () => {
  const labels = { cluster: 'prod-eu', owner: { kind: 'Application', namespace: 'argocd', name: 'payments' } };

  it('one URL-encoded Alertmanager matcher per label, read back exactly', () => {
    const url = silenceUrl('https://meshdrift.example.com/', labels);
    expect(url).toBe(
      'https://meshdrift.example.com/ui/silences/new?matcher=cluster%3D%22prod-eu%22&matcher=owner_kind%3D%22Application%22&matcher=owner_namespace%3D%22argocd%22&matcher=owner%3D%22payments%22',
    );
    const back = new URL(url ?? '').searchParams.getAll('matcher').map(parseMatcher);
    expect(back).toEqual([
      { name: 'cluster', op: '=', value: 'prod-eu' },
      { name: 'owner_kind', op: '=', value: 'Application' },
      { name: 'owner_namespace', op: '=', value: 'argocd' },
      { name: 'owner', op: '=', value: 'payments' },
    ]);
  });

  it("a group's group_by labels when the route groups by labels; hostile values stay inside their matcher", () => {
    const evil = 'a"&matcher=x="y|<!here>\n';
    const url = silenceUrl('https://meshdrift.example.com/base', { ...labels, groupBy: { severity: 'critical', namespace: evil } });
    expect(url?.startsWith('https://meshdrift.example.com/base/ui/silences/new?matcher=')).toBe(true);
    expect(url).not.toMatch(/[|<>"\s]/);
    const back = new URL(url ?? '').searchParams.getAll('matcher').map(parseMatcher);
    expect(back).toEqual([
      { name: 'namespace', op: '=', value: evil },
      { name: 'severity', op: '=', value: 'critical' },
    ]);
  });

  it('nothing without MESHDRIFT_PUBLIC_URL, or for a base that is not http(s); credentials, query and fragment dropped', () => {
    expect(silenceUrl(undefined, labels)).toBeUndefined();
    expect(silenceUrl('javascript:alert(1)', labels)).toBeUndefined();
    expect(httpBase('https://user:pw@meshdrift.example.com/x/?q=1#f')).toBe('https://meshdrift.example.com/x');
    expect(
      silenceUrl('https://meshdrift.example.com', { ...labels, groupBy: Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`l${i}`, 'v'])) }),
    ).toBeUndefined();
  });
});
