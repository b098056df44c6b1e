import { describe, expect, it } from 'vitest';
import { infoFields, judge } from '../../../src/track/redis-preflight.ts';

const stateOf = (results: ReturnType<typeof judge>, check: string) => results.find((r) => r.check === check);

describe('Redis preflight decision (issue #20)', () => {
  it('passes a primary with noeviction and AOF', () => {
    const r = judge('redis a:1', 'master', 'noeviction', undefined, '1');
    expect(r.map((x) => [x.check, x.state])).toEqual([
      ['role', 'ok'],
      ['maxmemory_policy', 'ok'],
      ['aof', 'ok'],
    ]);
  });

  it('fails volatile-lru with the one-line fix', () => {
    const policy = stateOf(judge('redis a:1', 'master', 'volatile-lru', undefined, '0'), 'maxmemory_policy');
    expect(policy?.state).toBe('fail');
    expect(policy?.detail).toContain('CONFIG SET maxmemory-policy noeviction');
    expect(policy?.detail).toContain('volatile-lru');
    expect(policy?.detail).not.toContain('\n');
  });

  it('fails a replica, and reports AOF off without refusing it', () => {
    const r = judge('redis a:1', 'slave', 'noeviction', undefined, '0');
    expect(stateOf(r, 'role')?.state).toBe('fail');
    expect(stateOf(r, 'aof')?.state).toBe('fail');
  });

  it('says what to check when CONFIG GET is refused', () => {
    const policy = stateOf(judge('redis a:1', 'master', undefined, "CONFIG GET refused: ERR unknown command 'CONFIG'", '1'), 'maxmemory_policy');
    expect(policy?.state).toBe('unknown');
    expect(policy?.detail).toMatch(/CONFIG GET refused.*parameter group sets maxmemory-policy noeviction/);
  });

  it('reads INFO fields, skipping section headers', () => {
    const f = infoFields('# Memory\r\nused_memory:100\r\nmaxmemory_policy:allkeys-lru\r\n');
    expect(f.get('maxmemory_policy')).toBe('allkeys-lru');
    expect(f.has('# Memory')).toBe(false);
  });
});
