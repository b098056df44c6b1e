import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, loadEnv } from '../../../src/config/env.ts';
import { placeholderProblem } from '../../../src/config/secrets.ts';

describe('placeholder secrets', () => {
  it.each([
    ['REPLACE_ME_ARGOCD_TOKEN'],
    ['replace-me-please-0123456789'],
    ['changeme'],
    ['Change_Me_0123456789abcdef'],
    ['<your-token-here-0123456789>'],
    ['an-example-token-0123456789'],
    ['placeholder-0123456789abcdef'],
    ['xoxb-...'],
  ])('%s is a placeholder', (value) => {
    expect(placeholderProblem(value, false)).toMatch(/looks like a placeholder/);
  });

  it('a secret meshdrift checks on requests must be 16 characters or more; one it presents need not', () => {
    expect(placeholderProblem('0123456789abcde', true)).toMatch(/shorter than 16 characters/);
    expect(placeholderProblem('0123456789abcdef', true)).toBeUndefined();
    expect(placeholderProblem('xoxb-short', false)).toBeUndefined();
  });

  it.each([
    ['MESHDRIFT_ARGOCD_TOKEN', 'REPLACE_ME_ARGOCD_TOKEN'],
    ['MESHDRIFT_FLUX_HMAC_KEY', 'changeme-0123456789xyz'],
    ['MESHDRIFT_FLUX_TOKEN', 'short-token'],
    ['MESHDRIFT_API_TOKEN', 'REPLACE_ME_API_TOKEN_then_set_it'],
    ['SLACK_BOT_TOKEN', 'REPLACE_ME_SLACK_BOT_TOKEN'],
    ['SLACK_SIGNING_SECRET', '<signing secret>'],
    ['ARGOCD_TOKEN', 'example-argocd-api-token'],
  ])('loadEnv refuses %s set to a placeholder, naming the variable and never the value', (name, value) => {
    const load = () =>
      loadEnv({
        [name]: value,
        ...(name === 'SLACK_BOT_TOKEN' ? { SLACK_CHANNEL: '#c' } : {}),
        ...(name === 'ARGOCD_TOKEN' ? { ARGOCD_URL: 'https://argocd.internal' } : {}),
      });
    expect(load).toThrow(ConfigError);
    let message = '';
    try {
      load();
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(new RegExp(`^  ${name}: (looks like a placeholder|is shorter than 16)`, 'm'));
    expect(message).not.toContain(value);
  });

  it('REDIS_URL: its password is checked, not its host name', () => {
    expect(() => loadEnv({ REDIS_URL: 'redis://:REPLACE_ME_REDIS_PASSWORD@redis:6379' })).toThrow(/REDIS_URL: its password looks like a placeholder/);
    expect(() => loadEnv({ REDIS_URL: 'redis://:REPLACE_ME_REDIS_PASSWORD@redis:6379' })).not.toThrow(/REPLACE_ME_REDIS_PASSWORD/);
    expect(loadEnv({ REDIS_URL: 'redis://redis.example.internal:6379' }).REDIS_URL).toBe('redis://redis.example.internal:6379');
  });

  it('real-looking secrets pass', () => {
    expect(() =>
      loadEnv({
        MESHDRIFT_ARGOCD_TOKEN: 'c0ffee'.repeat(8),
        MESHDRIFT_API_TOKEN: 'f00d'.repeat(8),
        SLACK_BOT_TOKEN: 'xoxb-1111-2222-abc',
        SLACK_CHANNEL: '#c',
      }),
    ).not.toThrow();
  });

  it('the example Secret cannot be used as it is: every value is refused as a placeholder', () => {
    const secret = parse(readFileSync(new URL('../../../deploy/kubernetes/base/secret.example.yaml', import.meta.url), 'utf8')) as {
      stringData: Record<string, string>;
    };
    expect(Object.keys(secret.stringData)).toContain('MESHDRIFT_API_TOKEN');
    let message = '';
    try {
      loadEnv({ ...secret.stringData, SLACK_CHANNEL: '#c' });
    } catch (err) {
      message = (err as Error).message;
    }
    for (const name of Object.keys(secret.stringData)) expect(message).toMatch(new RegExp(`^  ${name}: `, 'm'));
  });
});
