import { describe, expect, it } from 'vitest';
import type { SendResult } from '../../../src/deliver/notifier.ts';
import { MAX_REASON, redactSecrets, redactUrlSecrets, statusResult, urlFail } from '../../../src/deliver/http-result.ts';

const fail = (retryable: boolean, reason: string): SendResult => ({ ok: false, retryable, reason });

describe('statusResult', () => {
  it.each([
    [204, { ok: true }],
    [503, { ok: false, retryable: true, reason: 'HTTP 503: busy' }],
    [429, { ok: false, retryable: true, reason: 'HTTP 429: busy' }],
    [404, { ok: false, retryable: false, reason: 'HTTP 404: busy (hint)' }],
  ] as const)('maps %s', (status, expected) => {
    expect(statusResult(status, fail, ': busy', ' (hint)')).toEqual(expected);
  });
});

describe('redaction', () => {
  it('redacts non-empty secrets only', () => {
    expect(redactSecrets('key abc in abc', ['abc', ''])).toBe('key [redacted] in [redacted]');
  });

  it('shows the URL as scheme and host and redacts the named parts of four characters or more', () => {
    const url = 'https://user:p4ssword@hooks.example.com/abc?token=T0KEN';
    const text = `posting to ${url} failed; p4ssword, user and ?token=T0KEN`;
    expect(redactUrlSecrets(text, url, (u) => [u.password, u.username, u.search])).toBe(
      'posting to https://hooks.example.com failed; [redacted], [redacted] and [redacted]',
    );
    expect(redactUrlSecrets('abc', url, (u) => [u.pathname.slice(1)])).toBe('abc');
  });

  it('builds reasons with the receiver name and host, cut to MAX_REASON', () => {
    const result = urlFail('webhook', 'https://hooks.example.com/s3cret', (u) => [u.pathname])(true, `echo /s3cret ${'x'.repeat(1000)}`);
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(!result.ok && result.reason.startsWith('webhook https://hooks.example.com: echo [redacted] x')).toBe(true);
    expect(!result.ok && result.reason.length).toBe(MAX_REASON);
  });
});
