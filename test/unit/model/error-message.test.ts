import { describe, expect, it } from 'vitest';
import { messageOf } from '../../../src/model/error-message.ts';

describe('messageOf', () => {
  it('is the message of an Error, the text of anything else', () => {
    expect(messageOf(new TypeError('bad'))).toBe('bad');
    expect(messageOf('plain')).toBe('plain');
    expect(messageOf(42)).toBe('42');
  });
});
