-- wrk script for the ceilings: plain GETs, summary in one parsable line.
function done(summary, latency, requests)
   io.write(string.format("requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non200=%d errors=%d\n",
      summary.requests, summary.duration / 1e6,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
