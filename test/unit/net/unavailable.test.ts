import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ContentionError, redisUnavailable, retryAfterSeconds, unavailableReason } from '../../../src/net/unavailable.ts';
import { TrackConflictError } from '../../../src/track/redis-store.ts';

const ready = { status: 'ready' } as const;
const coded = (message: string, code: string): Error => Object.assign(new Error(message), { code });

describe('redisUnavailable: by error type and code, not by words in the text', () => {
  it('is down whenever the client is not ready, whatever the error', () => {
    expect(redisUnavailable({ status: 'reconnecting' }, new Error('anything'))).toBe('connection');
    expect(redisUnavailable({ status: 'end' }, undefined)).toBe('connection');
  });

  it('tells connection failures by their socket error code', () => {
    expect(redisUnavailable(ready, coded('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED'))).toBe('connection');
    expect(redisUnavailable(ready, coded('read ECONNRESET', 'ECONNRESET'))).toBe('connection');
    expect(redisUnavailable(ready, coded('connect ETIMEDOUT', 'ETIMEDOUT'))).toBe('connection');
  });

  it("tells ioredis's own errors for a command it could not send", () => {
    class MaxRetriesPerRequestError extends Error {
      override get name(): string {
        return 'MaxRetriesPerRequestError';
      }
    }
    expect(redisUnavailable(ready, new MaxRetriesPerRequestError('Reached the max retries per request limit (which is 1).'))).toBe('connection');
    expect(redisUnavailable(ready, new Error('Connection is closed.'))).toBe('connection');
    expect(redisUnavailable(ready, new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe('connection');
  });

  it('follows the cause of a wrapped error', () => {
    expect(redisUnavailable(ready, new Error('ingest failed', { cause: coded('connect ECONNREFUSED', 'ECONNREFUSED') }))).toBe('connection');
  });

  it('is not fooled by an error that merely mentions connecting (it was: a regex matched "connect")', () => {
    expect(redisUnavailable(ready, new Error('could not connect to the Argo CD API'))).toBeUndefined();
    expect(redisUnavailable(ready, new Error('Connection refused by the upstream'))).toBeUndefined();
    expect(redisUnavailable(ready, new Error('ERR Error running script: disconnected'))).toBeUndefined();
    expect(redisUnavailable(ready, 'ECONNREFUSED')).toBeUndefined();
  });
});

describe('unavailableReason: busy, loading and failover replies are "not now", not bugs', () => {
  it('reads the reply code of a Redis error reply', () => {
    expect(unavailableReason(new ReplyError('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.'))).toBe('busy');
    expect(unavailableReason(new ReplyError('LOADING Redis is loading the dataset in memory'))).toBe('loading');
    expect(unavailableReason(new ReplyError("READONLY You can't write against a read only replica."))).toBe('failover');
    expect(unavailableReason(new ReplyError('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no.'))).toBe('failover');
    expect(unavailableReason(new ReplyError('NOREPLICAS Not enough good replicas to write.'))).toBe('failover');
    expect(unavailableReason(new ReplyError('TRYAGAIN Multiple keys request during rehashing of slot'))).toBe('failover');
    expect(unavailableReason(new ReplyError('CLUSTERDOWN The cluster is down'))).toBe('failover');
    expect(unavailableReason(new ReplyError('UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)'))).toBe('failover');
  });

  it('leaves other error replies, and the same words outside a Redis reply, alone', () => {
    expect(unavailableReason(new ReplyError('ERR wrong number of arguments'))).toBeUndefined();
    expect(unavailableReason(new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBeUndefined();
    expect(unavailableReason(new ReplyError('BUSYKEY Target key name already exists.'))).toBeUndefined();
    expect(unavailableReason(new Error('BUSY doing something else'))).toBeUndefined();
    expect(unavailableReason(new Error('LOADING the Argo CD application'))).toBeUndefined();
  });

  it("reads the errors an aborted MULTI carries (ioredis's EXECABORT previousErrors)", () => {
    const execAbort = Object.assign(new ReplyError('EXECABORT Transaction discarded because of previous errors.'), {
      previousErrors: [new ReplyError('LOADING Redis is loading the dataset in memory')],
    });
    expect(unavailableReason(execAbort)).toBe('loading');
  });

  it('a write that lost its bounded compare-and-set retries is contention', () => {
    expect(unavailableReason(new ContentionError('gave up'))).toBe('contention');
    expect(unavailableReason(new TrackConflictError('group g: gave up after 25 conflicting concurrent updates'))).toBe('contention');
    expect(redisUnavailable(ready, new TrackConflictError('x'))).toBe('contention');
  });

  it('tells a retry after each reason, shortest for contention', () => {
    expect(retryAfterSeconds('contention')).toBeLessThan(retryAfterSeconds('connection'));
    for (const r of ['contention', 'busy', 'loading', 'failover', 'connection'] as const) expect(retryAfterSeconds(r)).toBeGreaterThan(0);
  });
});
