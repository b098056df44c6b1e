import { describe, expect, it } from 'vitest';
import { contentTypeProblem } from '../../../src/http/content-type.ts';

describe('contentTypeProblem', () => {
  it('accepts JSON as senders spell it, with or without a UTF-8 charset', () => {
    for (const value of [
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=UTF-8',
      'Application/JSON',
      'application/json;charset="utf8"',
      'application/vnd.api+json',
    ]) {
      expect(contentTypeProblem(value, false), value).toBeUndefined();
    }
  });

  it('refuses other media types and charsets, naming the value sent', () => {
    expect(contentTypeProblem('text/plain', false)).toBe('Content-Type "text/plain" is not supported: send application/json');
    expect(contentTypeProblem('application/json; charset=latin1', false)).toBe(
      'Content-Type "application/json; charset=latin1": JSON must be sent as charset=utf-8',
    );
    expect(contentTypeProblem('application/jsonx', false)).toContain('is not supported');
  });

  it('a missing Content-Type is refused unless the caller allows it', () => {
    expect(contentTypeProblem(undefined, false)).toBe('Content-Type is required: send application/json');
    expect(contentTypeProblem('  ', false)).toBe('Content-Type is required: send application/json');
    expect(contentTypeProblem(undefined, true)).toBeUndefined();
  });
});
