-- wrk script: distinct alerts to Prometheus Alertmanager's POST /api/v2/alerts, one alert per
-- request, carrying the information of the CloudWatch alarm tocsin.lua sends (name, account,
-- region, namespace, metric, dimension and severity as labels; description, state reason and
-- ARN as annotations), so both servers parse and keep a comparable alert. done() prints one
-- `JSON {...}` line, as tocsin.lua's.
local counter = 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  n = 0
  prefix = string.format("%s-%d-", args[1], tid)  -- argument 1: a number unique to the run
end

local headers = {["Content-Type"] = "application/json"}
function request()
  n = n + 1
  local id = prefix .. n
  return wrk.format("POST", "/api/v2/alerts", headers,
    '[{"labels":{"alertname":"bench-' .. id .. '","account":"123456789012","region":"us-east-1",'
    .. '"namespace":"AWS/SQS","metric":"ApproximateAgeOfOldestMessage","QueueName":"hooks-worker",'
    .. '"severity":"critical"},'
    .. '"annotations":{"summary":"Oldest message in the hooks-worker SQS queue is older than 15 '
    .. 'minutes; webhook deliveries are delayed. Runbook: https://runbooks.example.com/hooks-worker#backlog",'
    .. '"description":"Threshold Crossed: 3 out of the last 5 datapoints [1284.0 (02/03/26 10:02:00), '
    .. '1221.0 (02/03/26 10:01:00), 1167.0 (02/03/26 10:00:00)] were greater than the threshold (900.0) '
    .. '(minimum 3 datapoints for OK -> ALARM transition).",'
    .. '"alarm_arn":"arn:aws:cloudwatch:us-east-1:123456789012:alarm:bench-' .. id .. '"},'
    .. '"startsAt":"2026-03-02T10:03:41.118Z","generatorURL":"https://console.aws.amazon.com/'
    .. 'cloudwatch/home?region=us-east-1#alarmsV2:alarm/bench-' .. id .. '"}]')
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('JSON {"requests": %d, "errors": %d, "non2xx": %d, "duration_us": %d, '
    .. '"p50": %d, "p99": %d, "p999": %d}\n',
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
