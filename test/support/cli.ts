import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The `meshdrift` command (package.json "bin"): runs src/main.ts on the Node running the tests. */
export const BIN = `${ROOT}bin/meshdrift.cjs`;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `meshdrift <args>` with `env` only (plus PATH) and collects what it prints. */
export function runBin(args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
