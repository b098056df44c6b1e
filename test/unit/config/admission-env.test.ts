import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../../../src/config/env.ts';

describe('admission recorder settings', () => {
  it('are off by default, with the GitOps controllers of Argo CD and Flux as GitOps writers', () => {
    const env = loadEnv({});
    expect(env.MESHDRIFT_ADMISSION).toBe(false);
    expect(env.MESHDRIFT_ADMISSION_DEADLINE).toBe(500);
    expect(env.MESHDRIFT_ADMISSION_GITOPS_USERS).toEqual([
      'system:serviceaccount:argocd:argocd-application-controller',
      'system:serviceaccount:flux-system:kustomize-controller',
      'system:serviceaccount:flux-system:helm-controller',
    ]);
  });

  it('refuse to start the listener without its certificate and key, naming both', () => {
    expect(() => loadEnv({ MESHDRIFT_ADMISSION: 'true' })).toThrow(ConfigError);
    expect(() => loadEnv({ MESHDRIFT_ADMISSION: 'true' })).toThrow(/MESHDRIFT_ADMISSION_TLS_CERT: is required[\s\S]*MESHDRIFT_ADMISSION_TLS_KEY: is required/);
    expect(loadEnv({ MESHDRIFT_ADMISSION: 'true', MESHDRIFT_ADMISSION_TLS_CERT: '/c', MESHDRIFT_ADMISSION_TLS_KEY: '/k' }).MESHDRIFT_ADMISSION).toBe(true);
  });

  it('refuse to hash without a key, and a key that is a placeholder or short, never printing it', () => {
    expect(() => loadEnv({ MESHDRIFT_ADMISSION_USERNAMES: 'hash' })).toThrow(/MESHDRIFT_ADMISSION_HASH_KEY: is required/);
    let message = '';
    try {
      loadEnv({ MESHDRIFT_ADMISSION_GROUPS: 'hash', MESHDRIFT_ADMISSION_HASH_KEY: 'shortkey' });
    } catch (err) {
      message = String(err);
    }
    expect(message).toMatch(/MESHDRIFT_ADMISSION_HASH_KEY: is shorter than 16/);
    expect(message).not.toContain('shortkey');
  });

  it('keep the answer deadline below the webhook timeout', () => {
    expect(() => loadEnv({ MESHDRIFT_ADMISSION_DEADLINE: '2s' })).toThrow(/MESHDRIFT_ADMISSION_DEADLINE/);
  });
});
