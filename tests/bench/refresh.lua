-- wrk script: every connection rotates its own refresh-token chain
-- (body delivery), so each request is a real rotation. The tokens come
-- from the file named by TOKENS (one per line, one per connection); run
-- with as many threads as connections, so each thread owns one token and
-- its requests and responses alternate.
local tokens = {}
local next_token = 1
local threads = {}

function setup(thread)
   if #tokens == 0 then
      for line in io.lines(os.getenv("TOKENS")) do
         tokens[#tokens + 1] = line
      end
   end
   thread:set("token", tokens[next_token])
   next_token = next_token + 1
   threads[#threads + 1] = thread
end

function init(args)
   refused = 0
end

function request()
   return wrk.format("POST", "/auth/refresh",
      { ["Content-Type"] = "application/json" },
      '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
   if status == 200 then
      local t = body:match('"refresh_token":"([^"]+)"')
      if t then token = t end
   else
      refused = refused + 1
   end
end

function done(summary, latency, requests)
   local refused_total = 0
   for _, t in ipairs(threads) do
      refused_total = refused_total + (t:get("refused") or 0)
   end
   io.write(string.format("requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non200=%d errors=%d\n",
      summary.requests, summary.duration / 1e6,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, refused_total,
      summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end
