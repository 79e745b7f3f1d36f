-- tests/bench/common.lua: loaded (dofile) by every wrk script of make
-- bench, in the main state and in each thread's. Counts each thread's
-- answers that are not 2xx and writes the one summary line run.sh parses:
--   requests= seconds= rps= p50_ms= p99_ms= max_ms= non2xx= errors= [extra]
-- errors are socket errors (connect, read, write, timeout); a non-2xx is
-- counted by the script, not by wrk (which only counts >= 400).
threads = {}
non2xx = 0

function setup(thread)
   threads[#threads + 1] = thread
   thread:set("id", #threads)
end

-- Call from response(): tallies one answer.
function count_status(status)
   if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

-- The sum over the threads of their global `name`.
function thread_sum(name)
   local s = 0
   for _, t in ipairs(threads) do s = s + (t:get(name) or 0) end
   return s
end

-- The summary line, with `extra` (" key=value ...") appended.
function summary_line(summary, latency, extra)
   local e = summary.errors
   local secs = summary.duration / 1e6
   return string.format(
      "requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d errors=%d%s\n",
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, thread_sum("non2xx"),
      e.connect + e.read + e.write + e.timeout, extra or "")
end

function done(summary, latency, requests)
   io.write(summary_line(summary, latency, ""))
end

-- Line `id` of the file named by TOKENS: this thread's refresh chain.
function thread_token()
   local i = 0
   for line in io.lines(os.getenv("TOKENS")) do
      i = i + 1
      if i == id then return line end
   end
   error("no line " .. id .. " in " .. os.getenv("TOKENS"))
end

function refresh_request(token)
   return wrk.format("POST", "/auth/refresh",
      { ["Content-Type"] = "application/json" },
      '{"refresh_token":"' .. token .. '"}')
end

-- The chain's token after an answer to refresh_request(token): the
-- successor of a 200 (a 200 without one counts as a non-2xx), else token.
function refresh_next(token, status, body)
   if status == 200 then
      local t = body:match('"refresh_token":"([^"]+)"')
      if t then return t end
      non2xx = non2xx + 1
   end
   return token
end
