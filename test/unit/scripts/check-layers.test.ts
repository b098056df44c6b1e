import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { analyse as analyseTree } from '../../../scripts/check-layers.mjs';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function tree(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'layers-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('the layering fence', () => {
  it('accepts imports to the same floor or a lower one', () => {
    const root = tree({
      'src/model/a.ts': 'export const a = 1;\n',
      'src/track/b.ts': "import { a } from '../model/a.ts';\nexport const b = a;\n",
      'src/app.ts': "import { b } from './track/b.ts';\nexport { b };\n",
    });
    expect(analyseTree(root)).toEqual({ unknown: [], upward: [], circles: [] });
  });

  it('reports an import that goes up a floor, type-only and dynamic ones included', () => {
    const root = tree({
      'src/model/a.ts': "import type { B } from '../track/b.ts';\nexport const a = 1;\nexport type A = B;\n",
      'src/track/b.ts': "export type B = number;\nexport const load = () => import('../http/c.ts');\n",
      'src/http/c.ts': 'export const c = 1;\n',
    });
    expect(analyseTree(root).upward).toEqual(['src/model/a.ts -> src/track/b.ts', 'src/track/b.ts -> src/http/c.ts']);
  });

  it('reports files that import each other, even on one floor', () => {
    const root = tree({
      'src/deliver/x.ts': "import { y } from './y.ts';\nexport const x = y;\n",
      'src/deliver/y.ts': "import { x } from './x.ts';\nexport const y = () => x;\n",
    });
    expect(analyseTree(root).circles).toEqual(['src/deliver/x.ts <-> src/deliver/y.ts']);
  });

  it('reports a folder that has no floor', () => {
    const root = tree({ 'src/utils/z.ts': 'export const z = 1;\n' });
    expect(analyseTree(root).unknown).toEqual(['src/utils/z.ts: folder "utils" has no floor in scripts/check-layers.mjs']);
  });
});
