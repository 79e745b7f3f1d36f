-- wrk script: a mix of the fast routes, in turn GET /api/profile (Bearer
-- ACCESS), GET /api/health and POST /auth/refresh (line i of TOKENS is
-- thread i's chain, as in refresh.lua). Run with one connection per
-- thread; each thread stops after QUOTA answers (0: never), so the run is
-- a fixed number of requests (wrk's -d bounds it in time as well), and
-- then leaves a file named after itself in DONE_DIR.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

function init(args)
   token = thread_token()
   access = os.getenv("ACCESS")
   quota = tonumber(os.getenv("QUOTA"))
   answered, turn = 0, 0
end

function request()
   turn = turn % 3 + 1
   if turn == 1 then
      return wrk.format("GET", "/api/profile",
         { ["Authorization"] = "Bearer " .. access })
   elseif turn == 2 then
      return wrk.format("GET", "/api/health")
   end
   return refresh_request(token)
end

function response(status, headers, body)
   count_status(status)
   if turn == 3 then token = refresh_next(token, status, body) end
   answered = answered + 1
   if quota > 0 and answered == quota then
      -- run.sh waits for one file per thread in DONE_DIR
      local f = io.open(os.getenv("DONE_DIR") .. "/" .. id, "w")
      if f then f:close() end
      wrk.thread:stop()
   end
end
