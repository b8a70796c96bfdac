-- POST one ~400-byte Segment track event per request (the /v1/track shape), Basic auth.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = common.auth
wrk.body = common.track_event(1, false)
