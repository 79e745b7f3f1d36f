-- wrk script: real rotations, one chain per connection. The file named by
-- TOKENS holds refresh tokens, one per line, each the start of its own
-- session's chain (from real logins). Run with as many threads as
-- connections (-t N -c N): a thread's requests and responses then
-- alternate, and thread i rotates line i's chain, each answer's successor
-- replacing the token it was sent for. A refusal keeps the old token (it
-- is counted, and the chain's next request is refused too).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

function init(args)
   local i = 0
   for line in io.lines(os.getenv("TOKENS")) do
      i = i + 1
      if i == id then token = line end
   end
   assert(token, "refresh.lua: no token for thread " .. id)
end

function request()
   return wrk.format("POST", "/auth/refresh",
      { ["Content-Type"] = "application/json" },
      '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
   count_status(status)
   if status == 200 then
      local t = body:match('"refresh_token":"([^"]+)"')
      if t then token = t else non2xx = non2xx + 1 end
   end
end
