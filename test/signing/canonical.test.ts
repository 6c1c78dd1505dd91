/** RFC 8785 (JCS), the canonical form of args under `args_sha256`: the RFC's own examples, written out by hand. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { argsSha256, CanonicalJsonError, canonicalJson } from '../../lib/signing/jcs.ts';

describe('canonical JSON (RFC 8785)', () => {
  it('writes the §3.2.2 sample with its numbers, strings and literals as the RFC shows', () => {
    // RFC 8785 §3.2.2: the input's text, parsed as an agent's args would be.
    const input = JSON.parse(`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
      "literals": [null, true, false]
    }`);
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts member names by UTF-16 code units (§3.2.3), astral characters by their surrogates', () => {
    const input = JSON.parse(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
    );
    // Read off the text: a parsed object would put the integer-like "1" first whatever the order.
    const names = [...canonicalJson(input).matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((match) => JSON.parse(`"${match[1]}"`) as string);
    expect(names).toEqual(['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
  });

  it('writes the number forms of RFC 8785 Appendix B', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '0'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [9007199254740992, '9007199254740992'],
      [295147905179352830000, '295147905179352830000'],
      [1e21, '1e+21'],
      [1e-7, '1e-7'],
      [0.000001, '0.000001'],
    ];
    for (const [value, text] of cases) expect(canonicalJson(value)).toBe(text);
  });

  it('nests: arrays keep their order, objects at every depth are sorted, no whitespace', () => {
    expect(canonicalJson({ b: [3, { z: 1, a: 2 }], a: { d: null, c: 'x' } })).toBe('{"a":{"c":"x","d":null},"b":[3,{"a":2,"z":1}]}');
  });

  it('refuses what JSON cannot hold', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ a: undefined })).toThrow(CanonicalJsonError);
  });

  it('hashes the canonical text: the same args in another member order and spacing have one hash', () => {
    const a = JSON.parse('{ "service": "nginx", "opts": {"grace": 30, "force": false} }');
    const b = JSON.parse('{"opts":{"force":false,"grace":30.0},"service":"nginx"}');
    expect(argsSha256(a)).toBe(argsSha256(b));
    expect(argsSha256(a)).toBe(createHash('sha256').update('{"opts":{"force":false,"grace":30},"service":"nginx"}').digest('hex'));
    expect(argsSha256({ service: 'apache' })).not.toBe(argsSha256({ service: 'nginx' }));
  });
});
