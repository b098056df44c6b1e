import { describe, expect, it } from 'vitest';
import { AxiosError } from 'axios';
import { MAX_REASON, redactSecrets, redactUrlSecrets, statusResult, transportFailure, urlFail, type HttpResult } from '../../../src/net/http.ts';

const fail = (retryable: boolean, reason: string): HttpResult => ({ ok: false, retryable, reason });

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

describe('transportFailure: one table for deliveries, remediation and the Argo CD API', () => {
  it.each([
    // axios, as the receivers and the Argo CD API source see it
    [new AxiosError('timeout of 10ms exceeded for https://h/?token=1', 'ECONNABORTED'), 'request timed out'],
    [new AxiosError('canceled', 'ERR_CANCELED'), 'request timed out'],
    [new AxiosError('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), 'request failed: ECONNREFUSED'],
    [new AxiosError('Network Error https://h/?token=1'), 'request failed: network error'],
    // AbortSignal.timeout and the Kubernetes client, as the remediation clients see them
    [Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }), 'request timed out'],
    [
      { code: 'EKUBECREDENTIALS', message: 'exec plugin failed: token=abc' },
      'could not get credentials from the kubeconfig (token file, client certificate or exec plugin)',
    ],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'request failed: ECONNREFUSED'],
    [new Error('boom https://h/?token=1'), 'request failed'],
    ['boom', 'request failed'],
  ])('%s → %s', (error, want) => {
    expect(transportFailure(error)).toBe(want);
  });
});
