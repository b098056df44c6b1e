import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { verifyBearerToken, verifyFluxSignature } from '../../../src/http/verify-signature.ts';

const fixture = (name: string): URL => new URL(`../../../../shared/fixtures/flux/${name}`, import.meta.url);

const vector = JSON.parse(readFileSync(fixture('generic-hmac-testvector.json'), 'utf8')) as {
  hmacKey: string;
  expectedHeaders: { 'X-Signature': string };
};
const body = readFileSync(fixture('generic-hmac-testvector.body.json'));
const key = vector.hmacKey;
const header = vector.expectedHeaders['X-Signature'];

describe('verifyFluxSignature', () => {
  it('accepts the upstream notification-controller test vector', () => {
    expect(header).toBe('sha256=65b018549b1254e7226d1c08f9567ee45bc9de0fc4e7b1a40253f9a018b08be7');
    expect(body.length).toBe(295);
    expect(verifyFluxSignature(body, header, key)).toEqual({ ok: true });
  });

  it('accepts upper-case hex and a capitalised algorithm name', () => {
    const [algo, hex] = header.split('=') as [string, string];
    expect(verifyFluxSignature(body, `${algo.toUpperCase()}=${hex.toUpperCase()}`, key)).toEqual({ ok: true });
  });

  it.each(['sha224', 'sha384', 'sha512'] as const)('accepts %s computed over the raw body', (algo) => {
    const sig = createHmac(algo, key).update(body).digest('hex');
    expect(verifyFluxSignature(body, `${algo}=${sig}`, key)).toEqual({ ok: true });
  });

  it('rejects the vector when one body byte changed', () => {
    const tampered = Buffer.from(body);
    tampered[tampered.length - 3] = 'y'.charCodeAt(0); // ...xyz"} → ...xyy"}
    expect(tampered.equals(body)).toBe(false);
    expect(verifyFluxSignature(tampered, header, key)).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it('rejects a re-serialized body (whitespace differs, same JSON value)', () => {
    const pretty = Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8')), null, 2));
    expect(verifyFluxSignature(pretty, header, key)).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it('rejects the right digest under the wrong key', () => {
    expect(verifyFluxSignature(body, header, `${key}x`)).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it('rejects a sha512 header carrying a sha256-length digest without throwing', () => {
    const sha256hex = header.slice('sha256='.length);
    expect(verifyFluxSignature(body, `sha512=${sha256hex}`, key)).toEqual({ ok: false, reason: 'signature mismatch' });
  });

  it.each([
    ['missing header', undefined, 'missing X-Signature header'],
    ['empty header', '  ', 'missing X-Signature header'],
    ['md5', 'md5=0123abcd', 'unsupported signature algorithm "md5"'],
    ['sha1', 'sha1=0123abcd', 'unsupported signature algorithm "sha1"'],
    ['no algorithm', '=0123abcd', 'malformed X-Signature header: expected <algorithm>=<hex digest>'],
    ['no separator', '65b018549b1254e7226d1c08f9567ee45bc9de0fc4e7b1a40253f9a018b08be7', 'malformed X-Signature header: expected <algorithm>=<hex digest>'],
    ['non-hex digest', 'sha256=zz', 'malformed X-Signature header: digest is not hex'],
    ['odd-length digest', 'sha256=abc', 'malformed X-Signature header: digest is not hex'],
    ['empty digest', 'sha256=', 'malformed X-Signature header: digest is not hex'],
    ['short digest', 'sha256=00', 'signature mismatch'],
  ])('rejects %s', (_name, value, reason) => {
    expect(verifyFluxSignature(body, value, key)).toEqual({ ok: false, reason });
  });

  it('refuses to verify with an empty key', () => {
    const sig = createHmac('sha256', '').update(body).digest('hex');
    expect(verifyFluxSignature(body, `sha256=${sig}`, '')).toEqual({ ok: false, reason: 'no HMAC key configured' });
  });

  it('never echoes the key or the expected digest', () => {
    const expectedHex = header.slice('sha256='.length);
    for (const value of [undefined, 'md5=00', 'sha256=00', `sha384=${expectedHex}`, 'sha256=zz']) {
      const result = verifyFluxSignature(body, value, key);
      expect(result.ok).toBe(false);
      const reason = result.ok ? '' : result.reason;
      expect(reason).not.toContain(key);
      expect(reason).not.toContain(expectedHex);
    }
  });
});

describe('verifyBearerToken', () => {
  const token = 's3cr3t-token';

  it.each([['Bearer s3cr3t-token'], ['bearer s3cr3t-token'], ['BEARER   s3cr3t-token  ']])('accepts %j', (value) => {
    expect(verifyBearerToken(value, token)).toEqual({ ok: true });
  });

  it.each([
    ['missing', undefined, 'missing Authorization header'],
    ['empty', '', 'missing Authorization header'],
    ['wrong token', 'Bearer s3cr3t-tokem', 'invalid bearer token'],
    ['prefix of the token', 'Bearer s3cr3t', 'invalid bearer token'],
    ['token plus suffix', 'Bearer s3cr3t-token2', 'invalid bearer token'],
    ['Basic scheme', 'Basic s3cr3t-token', 'Authorization header is not of the form "Bearer <token>"'],
    ['Flux test-style token scheme', 'token s3cr3t-token', 'Authorization header is not of the form "Bearer <token>"'],
    ['bare token', 's3cr3t-token', 'Authorization header is not of the form "Bearer <token>"'],
    ['scheme only', 'Bearer', 'Authorization header is not of the form "Bearer <token>"'],
  ])('rejects %s', (_name, value, reason) => {
    const result = verifyBearerToken(value, token);
    expect(result).toEqual({ ok: false, reason });
    if (!result.ok) expect(result.reason).not.toContain(token);
  });

  it('refuses to verify against an empty configured token', () => {
    expect(verifyBearerToken('Bearer ', '')).toEqual({ ok: false, reason: 'no bearer token configured' });
  });
});
