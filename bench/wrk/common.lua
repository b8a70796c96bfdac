-- Shared by the wrk scripts of bench/server_stack.py (loaded with dofile from the script's folder).
-- Defines the global done() that prints one machine-readable line, and returns helpers that build
-- realistic Segment tracking payloads.

local M = {}

-- HTTP Basic auth with the write key as user and an empty password, as Segment SDKs send it:
-- base64("bench-write-key:").
M.auth = "Basic YmVuY2gtd3JpdGUta2V5Og=="

-- One Segment "track" call of about 400 bytes; i makes the messageId and userId distinct.
function M.track_event(i, with_type)
  local kind = ""
  if with_type then
    kind = '"type":"track",'
  end
  return string.format(
    '{%s"messageId":"msg-7f3c9a1e-%08d","userId":"user-%06d","anonymousId":"anon-4b1d2e9f-%06d",'
      .. '"event":"Order Completed","properties":{"orderId":"ord-%08d","revenue":42.5,"currency":"EUR",'
      .. '"products":[{"sku":"SKU-1042","price":21.25,"quantity":2}]},'
      .. '"context":{"ip":"203.0.113.7","library":{"name":"analytics-python","version":"2.3.2"},'
      .. '"userAgent":"Mozilla/5.0 (X11; Linux x86_64)"},'
      .. '"timestamp":"2026-11-24T10:15:30.123Z"}',
    kind, i, i % 1000000, i % 1000000, i)
end

-- A Segment /v1/batch body of n track events.
function M.batch_body(n)
  local events = {}
  for i = 1, n do
    events[i] = M.track_event(i, true)
  end
  return '{"batch":[' .. table.concat(events, ",") .. '],"sentAt":"2026-11-24T10:15:31.000Z"}'
end

-- Prints the totals and latency percentiles (microseconds) as one JSON line after "WRKJSON ".
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"mean_us":%.1f,"p50_us":%d,"p90_us":%d,'
      .. '"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end

return M
