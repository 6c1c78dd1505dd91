local commandPrefix = ARGV[1]
local entriesJson = ARGV[2]
--- @include generated/fields
--- @include include/hashFields
-- Sign executions (lib/store/scripts.ts SIGN_EXECUTIONS). Mirrors signExecutions of the
-- in-memory store. `entriesJson`: [[commandId, attempt ('' for none), signature], ...], the job
-- executions a poll handed out without a signature, each signed by the function. Each execution
-- still there gets the signature unless it has one already (another poll's, which stays) or its
-- attempt is no longer the one signed (a retry made a new attempt meanwhile: left unsigned, the
-- next poll signs it). Returns the signatures now stored, flat: { commandId, signature or '', ... };
-- an execution that is gone is left out. Concurrent polls so converge on one signature.
local out = {}
for _, entry in ipairs(cjson.decode(entriesJson)) do
  local commandId, attempt, signature = entry[1], entry[2], entry[3]
  local key = commandPrefix .. commandId
  local held = hashFields(key, EXECUTION_SIGNING_FIELDS)
  local stored = held.signature
  if held.jobId then
    if not stored and (held.attempt or '') == attempt then
      redis.call('HSET', key, 'signature', signature)
      stored = signature
    end
    out[#out + 1] = commandId
    out[#out + 1] = stored or ''
  end
end
return out
