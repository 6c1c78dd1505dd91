/**
 * Scanning JSON text that is already known to be valid (JSON.parse said so), without building
 * values: duplicate member names anywhere, and the exact text of one top-level member's value.
 *
 * Duplicate member names in a JSON object. JSON.parse keeps the last of them, another parser may
 * keep the first: a token whose header or payload says `"sub":"a", ..., "sub":"b"` reads
 * differently to different readers, so we refuse it (RFC 7515 4, RFC 7519 4: "MUST either reject
 * ... or use a JSON parser that returns only the lexically last duplicate member name"; we reject).
 *
 * Names are compared after unescaping, so `"sub"` and `"s\u0075b"` are the same name.
 * The text must already be valid JSON (checked by JSON.parse first); this is only a scanner.
 */

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/** True when some object, at any depth, has the same member name twice. */
export function hasDuplicateKeys(json: string): boolean {
  // One set of names per open container; arrays get undefined.
  const stack: (Set<string> | undefined)[] = [];
  let i = 0;
  let expectKey = false;
  while (i < json.length) {
    const c = json[i] as string;
    if (WHITESPACE.has(c)) {
      i += 1;
      continue;
    }
    if (c === '"') {
      const start = i;
      i += 1;
      while (i < json.length && json[i] !== '"') i += json[i] === '\\' ? 2 : 1;
      i += 1; // closing quote
      if (expectKey) {
        const names = stack[stack.length - 1];
        const name = JSON.parse(json.slice(start, i)) as string;
        if (names?.has(name)) return true;
        names?.add(name);
        expectKey = false;
      }
      continue;
    }
    if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(undefined);
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] !== undefined;
    }
    // ':' numbers, true, false, null: nothing to track.
    i += 1;
  }
  return false;
}

/**
 * The exact text of the value of the top-level object's member `name` (the last one if repeated),
 * as the client wrote it: what a re-serialisation would change (large integers, `1.0`, escapes)
 * is kept byte for byte. Undefined when the text is not an object or has no such member.
 */
export function topLevelMember(json: string, name: string): string | undefined {
  let depth = 0;
  let i = 0;
  let expectKey = false;
  let current: string | undefined;
  let valueStart = -1;
  let found: string | undefined;
  const end = (at: number) => {
    if (current === name && valueStart >= 0) found = json.slice(valueStart, at).trimEnd();
    current = undefined;
    valueStart = -1;
  };
  while (i < json.length) {
    const c = json[i] as string;
    if (WHITESPACE.has(c)) {
      i += 1;
      continue;
    }
    if (depth === 1 && current !== undefined && valueStart < 0) valueStart = i;
    if (c === '"') {
      const start = i;
      i += 1;
      while (i < json.length && json[i] !== '"') i += json[i] === '\\' ? 2 : 1;
      i += 1;
      if (expectKey && depth === 1) {
        current = JSON.parse(json.slice(start, i)) as string;
        expectKey = false;
        // The value starts after the colon.
        while (i < json.length && (WHITESPACE.has(json[i] as string) || json[i] === ':')) i += 1;
      }
      continue;
    }
    if (c === '{' || c === '[') {
      depth += 1;
      if (depth === 1) {
        if (c !== '{') return undefined;
        expectKey = true;
      }
    } else if (c === '}' || c === ']') {
      if (depth === 1) end(i);
      depth -= 1;
    } else if (c === ',' && depth === 1) {
      end(i);
      expectKey = true;
    }
    i += 1;
  }
  return found;
}

/** JSON text to be written into an answer as it is, not serialised again (a stored result). */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

const NONCE = Math.random().toString(36).slice(2);

/**
 * JSON.stringify, except that every RawJson value (at any depth) is written as its own text.
 * Each is first written as a placeholder string that carries a per-process nonce, which no
 * client-sent string can know, then swapped for its text.
 */
export function stringifyWithRaw(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, item: unknown) => {
    if (!(item instanceof RawJson)) return item;
    raws.push(item.text);
    return `\u0000raw:${NONCE}:${raws.length - 1}`;
  });
  if (raws.length === 0) return text;
  return text.replace(new RegExp(`"\\\\u0000raw:${NONCE}:(\\d+)"`, 'g'), (_whole, index: string) => raws[Number(index)] as string);
}
