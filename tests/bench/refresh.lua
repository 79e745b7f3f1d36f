-- wrk script: real rotations. The file named by TOKENS holds refresh
-- tokens (one per line, each the start of its own session's chain); they
-- are dealt out evenly to the threads. Run with as many threads as
-- connections: a thread's requests and responses then alternate, and it
-- rotates its sessions in turn, each answer's successor replacing the
-- token it was sent for.
local all = {}
local threads = {}

function setup(thread)
   if #all == 0 then
      for line in io.lines(os.getenv("TOKENS")) do
         all[#all + 1] = line
      end
   end
   threads[#threads + 1] = thread
   thread:set("id", #threads)
end

function init(args)
   local n = tonumber(os.getenv("THREADS"))
   mine = {}
   for line in io.lines(os.getenv("TOKENS")) do
      mine[#mine + 1] = line
   end
   -- keep every n-th token, starting at this thread's own
   local kept = {}
   for i = id, #mine, n do kept[#kept + 1] = mine[i] end
   mine = kept
   cur = 1
   refused = 0
end

function request()
   return wrk.format("POST", "/auth/refresh",
      { ["Content-Type"] = "application/json" },
      '{"refresh_token":"' .. mine[cur] .. '"}')
end

function response(status, headers, body)
   if status == 200 then
      local t = body:match('"refresh_token":"([^"]+)"')
      if t then mine[cur] = t end
   else
      refused = refused + 1
   end
   cur = cur % #mine + 1
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
