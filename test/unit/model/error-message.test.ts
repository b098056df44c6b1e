import { describe, expect, it } from 'vitest';
import { firstLineOf, messageOf } from '../../../src/model/error-message.ts';

describe('messageOf', () => {
  it('is the message of an Error, the text of anything else', () => {
    expect(messageOf(new TypeError('bad'))).toBe('bad');
    expect(messageOf('plain')).toBe('plain');
    expect(messageOf(42)).toBe('42');
  });
});

describe('firstLineOf', () => {
  it('keeps the first line, bounded', () => {
    expect(firstLineOf(new Error('HTTP-Code: 403\nBody: {"token":"x"}\nHeaders: {}'), 200)).toBe('HTTP-Code: 403');
    expect(firstLineOf('x'.repeat(600), 300)).toHaveLength(300);
    expect(firstLineOf('', 10)).toBe('');
  });
});
