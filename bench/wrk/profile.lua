-- GET /v1/profiles/email:user<N>@example.com for N cycling through WRK_PROFILES profiles
-- (default 100000), paced: each connection waits WRK_DELAY_MS (default 10) before each request,
-- so C connections send at most C * 1000 / WRK_DELAY_MS requests/s (closed loop: a slow answer
-- delays the next request of its connection; the measured rate is reported).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

local profiles = tonumber(os.getenv("WRK_PROFILES") or "100000")
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "10")
local counter = 0

function init(args)
  counter = math.random(profiles)
end

function request()
  counter = (counter % profiles) + 1
  return wrk.format("GET", "/v1/profiles/email:user" .. counter .. "@example.com", { ["Authorization"] = common.auth })
end

function delay()
  return delay_ms
end
