-- mirrors: lib/jobs/rules.ts jobGoneAt
-- When the job and everything kept for it are gone: its expiry plus the result retention.
-- `spec`: the job's spec ({ expiresAt, ... }).
local function jobGoneAt(spec, retention)
  return spec.expiresAt + retention
end
