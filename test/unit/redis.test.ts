import { describe, expect, it } from 'vitest';
import { isRedisDown } from '../../src/redis.ts';

const ready = { status: 'ready' } as const;
const coded = (message: string, code: string): Error => Object.assign(new Error(message), { code });

describe('isRedisDown: by error type and code, not by words in the text', () => {
  it('is down whenever the client is not ready, whatever the error', () => {
    expect(isRedisDown({ status: 'reconnecting' }, new Error('anything'))).toBe(true);
    expect(isRedisDown({ status: 'end' }, undefined)).toBe(true);
  });

  it('tells connection failures by their socket error code', () => {
    expect(isRedisDown(ready, coded('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED'))).toBe(true);
    expect(isRedisDown(ready, coded('read ECONNRESET', 'ECONNRESET'))).toBe(true);
    expect(isRedisDown(ready, coded('connect ETIMEDOUT', 'ETIMEDOUT'))).toBe(true);
  });

  it("tells ioredis's own errors for a command it could not send", () => {
    class MaxRetriesPerRequestError extends Error {
      override get name(): string {
        return 'MaxRetriesPerRequestError';
      }
    }
    expect(isRedisDown(ready, new MaxRetriesPerRequestError('Reached the max retries per request limit (which is 1).'))).toBe(true);
    expect(isRedisDown(ready, new Error('Connection is closed.'))).toBe(true);
    expect(isRedisDown(ready, new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe(true);
  });

  it('follows the cause of a wrapped error', () => {
    expect(isRedisDown(ready, new Error('ingest failed', { cause: coded('connect ECONNREFUSED', 'ECONNREFUSED') }))).toBe(true);
  });

  it('is not fooled by an error that merely mentions connecting (it was: a regex matched "connect")', () => {
    expect(isRedisDown(ready, new Error('could not connect to the Argo CD API'))).toBe(false);
    expect(isRedisDown(ready, new Error('Connection refused by the upstream'))).toBe(false);
    expect(isRedisDown(ready, new Error('ERR Error running script: disconnected'))).toBe(false);
    expect(isRedisDown(ready, 'ECONNREFUSED')).toBe(false);
  });
});
