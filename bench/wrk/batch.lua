-- POST a Segment /v1/batch body of 100 track events (~40 KB) per request, Basic auth.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = common.auth
wrk.body = common.batch_body(100)
