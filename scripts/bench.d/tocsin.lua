-- wrk script: distinct CloudWatch alarms wrapped in SNS notifications, one per request, to
-- POST /hooks/sns. The body comes from a template (argument 1, written by scripts/bench from
-- tests/fixtures/sns_notification_alarm.json) with @@ID@@ (the SNS MessageId, before the
-- Message in the JSON) and @@NAME@@ (the alarm's name): every request is a new alarm, so each
-- opens an alert, an episode, a timer and a decision. done() prints one `JSON {...}` line.
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local parts
function init(args)
  local f = assert(io.open(args[1]))
  local t = f:read("*a")
  f:close()
  local a, b = t:find("@@ID@@", 1, true)
  local c, d = t:find("@@NAME@@", 1, true)
  assert(a and c and b < c, "the template has @@ID@@ before @@NAME@@")
  parts = {t:sub(1, a - 1), t:sub(b + 1, c - 1), t:sub(d + 1)}
  n = 0
  -- Distinct across threads, and across runs (argument 2: a number unique to the run).
  prefix = string.format("%s-%d-", args[2], tid)
end

local headers = {["Content-Type"] = "text/plain; charset=UTF-8",
                 ["x-amz-sns-message-type"] = "Notification"}
function request()
  n = n + 1
  local id = prefix .. n
  return wrk.format("POST", "/hooks/sns", headers, parts[1] .. id .. parts[2] .. "bench-" .. id .. parts[3])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('JSON {"requests": %d, "errors": %d, "non2xx": %d, "duration_us": %d, '
    .. '"p50": %d, "p99": %d, "p999": %d}\n',
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
