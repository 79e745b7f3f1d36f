-- wrk script: plain GETs of the URL given (headers with -H), every answer
-- counted (common.lua).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

function response(status, headers, body)
   count_status(status)
end
