import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The shared fixtures live beside the repo (../shared/fixtures); they are read, never copied. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

export function fixturePath(relative: string): string {
  return `${FIXTURES_DIR}${relative}`;
}

export function readFixture(relative: string): unknown {
  return JSON.parse(readFileSync(fixturePath(relative), 'utf8'));
}

export function readFixtureBytes(relative: string): Buffer {
  return readFileSync(fixturePath(relative));
}
