-- Profile lookups for the real `personae serve` (bench/server.py): GET the URL's path followed
-- by an identifier read from the file WRK_IDS (one a line, already escaped for a URL path:
-- email:jane%40example.com, uid:p...), with the Authorization header WRK_AUTH.
-- Paced: each connection waits WRK_DELAY_MS before each request, so C connections send at most
-- C * 1000 / WRK_DELAY_MS requests/s (closed loop: a slow answer delays its connection's next
-- request; the measured rate is reported). Each thread starts at its own place in the file.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")  -- done(): the WRKJSON summary line

local auth = os.getenv("WRK_AUTH") or ""
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "20")
local ids = {}
local counter = 0
local threads = 0

for line in io.lines(os.getenv("WRK_IDS")) do
  if line ~= "" then
    table.insert(ids, line)
  end
end

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  local tid = tonumber(wrk.thread:get("tid")) or 1
  counter = (tid * 7919) % #ids
end

function request()
  counter = (counter % #ids) + 1
  return wrk.format("GET", wrk.path .. ids[counter], { ["Authorization"] = auth })
end

function delay()
  return delay_ms
end
