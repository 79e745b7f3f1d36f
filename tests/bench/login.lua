-- wrk script: correct logins, each a full bcrypt check at the configured
-- cost. The users are USER_PREFIX0 .. USER_PREFIX(USERS-1), all with
-- password PASSWORD; each thread takes them in turn from its own offset,
-- so that no two connections press on one account (the limiter's
-- account keys stay out of the measure). Counts the answers by status,
-- and the refusals (429, 503) that came without Retry-After.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

function init(args)
   prefix = os.getenv("USER_PREFIX")
   users = tonumber(os.getenv("USERS"))
   password = os.getenv("PASSWORD")
   nthreads = tonumber(os.getenv("THREADS"))
   next_user = (id - 1) * math.floor(users / nthreads)
   s200, s429, s503, sother, no_retry_after = 0, 0, 0, 0, 0
end

function request()
   local u = prefix .. (next_user % users)
   next_user = next_user + 1
   return wrk.format("POST", "/auth/login",
      { ["Content-Type"] = "application/json" },
      '{"username":"' .. u .. '","password":"' .. password ..
      '","token_delivery":"body"}')
end

local function has_retry_after(headers)
   for k, v in pairs(headers) do
      if k:lower() == "retry-after" and v:match("^%d+$") then return true end
   end
   return false
end

function response(status, headers, body)
   count_status(status)
   if status == 200 then
      s200 = s200 + 1
   elseif status == 429 or status == 503 then
      if status == 429 then s429 = s429 + 1 else s503 = s503 + 1 end
      if not has_retry_after(headers) then
         no_retry_after = no_retry_after + 1
      end
   else
      sother = sother + 1
   end
end

function done(summary, latency, requests)
   io.write(summary_line(summary, latency, string.format(
      " s200=%d s429=%d s503=%d sother=%d no_retry_after=%d ok_rps=%.2f",
      thread_sum("s200"), thread_sum("s429"), thread_sum("s503"),
      thread_sum("sother"), thread_sum("no_retry_after"),
      thread_sum("s200") / (summary.duration / 1e6))))
end
