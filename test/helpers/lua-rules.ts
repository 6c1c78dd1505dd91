/**
 * One rule of lib/store/lua/rules run in EVAL over a batch of calls, and the one place values
 * cross between TypeScript and Lua for it.
 *
 * Into Lua: each call is a JSON array of its arguments, decoded by cjson. A field that is
 * undefined is left out, so it is an absent key (nil) in Lua; an argument that is undefined is
 * null, which the wrapper turns into nil before the call (the count of arguments is kept, so a
 * trailing nil is still passed). JSON has no NaN, Infinity or -0, which the revocation rules must
 * see: such a number goes as { "$num": "<text>" } and the wrapper makes the number again.
 *
 * Back from Lua: every number is sent as { "$num": "%.17g" }, because Redis' cjson writes at most
 * 14 significant digits and an epoch-ms sum or a window index can need 16 or 17; 17 give back
 * the very same double. nil is an absent key, and an empty table is `{}`, so the TypeScript
 * answer is put in the same shape (luaShape) before the two are compared.
 */
import { assembleLua } from '../../lib/store/lua.ts';
import type { TcpClient } from './redis.ts';

/** A number JSON cannot carry (NaN, Infinity, -Infinity, -0), as the wrapper reads it. */
const NUM = '$num';

/** The arguments of each call, as the EVAL wrapper decodes them. */
export function encodeCalls(calls: readonly (readonly unknown[])[]): string {
  return JSON.stringify(calls, (_key, value: unknown) => {
    if (typeof value !== 'number' || (Number.isFinite(value) && !Object.is(value, -0))) return value;
    return { [NUM]: Object.is(value, -0) ? '-0' : String(value) };
  });
}

/** A value as it comes back through the wrapper: undefined fields gone, empty arrays as `{}`. */
export function luaShape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? {} : value.map((item) => luaShape(item) ?? null);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) if (field !== undefined) out[key] = luaShape(field);
  return out;
}

/** Each call's answer: its value (undefined for nil), or the error the rule raised. */
export type LuaAnswer = { readonly value: unknown } | { readonly error: string };

/**
 * The Lua appended to the assembled rule: decode the calls, call the rule on each inside pcall,
 * encode the answers. Its names start with `tableTest` so none hides a rule or what it includes.
 */
function wrapper(rule: string): string {
  return `
local function tableTestIn(v)
  if v == cjson.null then return nil end
  if type(v) ~= 'table' then return v end
  local text = v['${NUM}']
  if text ~= nil then
    if text == 'NaN' then return 0 / 0 end
    if text == 'Infinity' then return math.huge end
    if text == '-Infinity' then return -math.huge end
    return tonumber(text)
  end
  local out = {}
  for k, x in pairs(v) do out[k] = tableTestIn(x) end
  return out
end
local function tableTestOut(v)
  if type(v) == 'number' then
    if v ~= v then return { ['${NUM}'] = 'NaN' } end
    if v == math.huge then return { ['${NUM}'] = 'Infinity' } end
    if v == -math.huge then return { ['${NUM}'] = '-Infinity' } end
    return { ['${NUM}'] = string.format('%.17g', v) }
  end
  if type(v) ~= 'table' then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = tableTestOut(x) end
  return out
end
local tableTestAnswers = {}
for i, call in ipairs(cjson.decode(ARGV[1])) do
  local n = #call
  local args = {}
  for j = 1, n do args[j] = tableTestIn(call[j]) end
  local ok, value = pcall(${rule}, unpack(args, 1, n))
  if ok then tableTestAnswers[i] = { value = tableTestOut(value) } else tableTestAnswers[i] = { error = tostring(value) } end
end
return cjson.encode(tableTestAnswers)
`;
}

/** The whole script EVAL runs for `rule`: its file with what it includes, then the wrapper. */
export function ruleScript(rule: string): string {
  return `${assembleLua(`rules/${rule}`)}${wrapper(rule)}`;
}

/** Runs `rule` on every call in one EVAL; the answers come in the order of the calls. */
export async function evalRule(redis: TcpClient, rule: string, calls: readonly (readonly unknown[])[]): Promise<LuaAnswer[]> {
  const text = String(await redis.eval(ruleScript(rule), { keys: [], arguments: [encodeCalls(calls)] }));
  const answers: unknown = JSON.parse(text, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const fields = Object.keys(value);
      if (fields.length === 1 && fields[0] === NUM) return Number((value as Record<string, string>)[NUM]);
    }
    return value;
  });
  // cjson writes an empty table as {}: no calls, no answers.
  const list = Array.isArray(answers) ? answers : [];
  if (list.length !== calls.length) throw new Error(`rules/${rule}: ${list.length} answers to ${calls.length} calls`);
  return list.map((answer: { value?: unknown; error?: string }) =>
    answer.error === undefined ? { value: answer.value } : { error: answer.error },
  );
}
