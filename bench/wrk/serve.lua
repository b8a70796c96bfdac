-- Tracking calls for the real `personae serve` (bench/server.py): POST to the URL's path a
-- Segment track call (WRK_EVENTS=1, the /v1/track shape) or a batch of WRK_EVENTS track calls
-- (the /v1/batch shape), with the Authorization header WRK_AUTH.
--
-- Every request carries messageIds never sent before (WRK_RUN, the thread and a request
-- counter), so no layer that drops a repeated messageId can turn the load into no-ops; the
-- userIds cycle through 100,000 values (bench-<block>-<position>), so live processing sees
-- returning people as well as new ones. The body is the same ~426 bytes an event as
-- common.lua's (bench/server_stack.py), built from fixed pieces with the ids slotted in, so
-- wrk spends a few microseconds on it, not a string.format per event.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

local events = tonumber(os.getenv("WRK_EVENTS") or "1")
local auth = os.getenv("WRK_AUTH") or common.auth
local run = os.getenv("WRK_RUN") or "run"
local blocks = math.floor(100000 / events)

local threads = 0
local tid = 0
local counter = 0
local pieces = {}
local slots = {}

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

-- pieces[k] are fixed; slots lists the indexes of pieces that hold the request's ids.
local function event_pieces(i, with_type)
  local kind = ""
  if with_type then
    kind = '"type":"track",'
  end
  table.insert(pieces, '{' .. kind .. '"messageId":"')
  table.insert(pieces, "")  -- the request's id
  table.insert(slots, { #pieces, "message" })
  table.insert(pieces, string.format('-%03d","userId":"bench-', i))
  table.insert(pieces, "")  -- the request's user block
  table.insert(slots, { #pieces, "user" })
  table.insert(pieces, string.format(
    '-%03d","anonymousId":"anon-4b1d2e9f-%06d",'
      .. '"event":"Order Completed","properties":{"orderId":"ord-%08d","revenue":42.5,"currency":"EUR",'
      .. '"products":[{"sku":"SKU-1042","price":21.25,"quantity":2}]},'
      .. '"context":{"ip":"203.0.113.7","library":{"name":"analytics-python","version":"2.3.2"},'
      .. '"userAgent":"Mozilla/5.0 (X11; Linux x86_64)"},'
      .. '"timestamp":"2026-11-24T10:15:30.123Z"}',
    i, i, i))
end

function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 1
  if events == 1 then
    event_pieces(1, false)
  else
    table.insert(pieces, '{"batch":[')
    for i = 1, events do
      if i > 1 then
        table.insert(pieces, ",")
      end
      event_pieces(i, true)
    end
    table.insert(pieces, '],"sentAt":"2026-11-24T10:15:31.000Z"}')
  end
end

function request()
  counter = counter + 1
  local message = string.format("%s-%d-%d", run, tid, counter)
  local user = tostring((counter * 7 + tid) % blocks)
  for _, slot in ipairs(slots) do
    if slot[2] == "message" then
      pieces[slot[1]] = message
    else
      pieces[slot[1]] = user
    end
  end
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = auth,
  }, table.concat(pieces))
end
