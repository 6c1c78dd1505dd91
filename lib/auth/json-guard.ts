/**
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
