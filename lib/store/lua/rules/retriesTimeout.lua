-- mirrors: lib/jobs/rules.ts retriesTimeout
--- @include rules/maxAttempts
-- Is the timeout of this delivered attempt retried? Its deadline is then also kept in the job's retry set.
local function retriesTimeout(spec, r)
  return r.jobId ~= nil and (r.attempt or 1) < maxAttempts(spec.retry, 'timed_out')
end
