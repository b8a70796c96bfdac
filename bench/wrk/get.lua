-- GET the URL's path with Basic auth and no body (the bare GET endpoint).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

wrk.method = "GET"
wrk.headers["Authorization"] = common.auth
