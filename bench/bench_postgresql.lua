-- wrk script for bench/bench_postgresql.py.
--
--   wrk -s bench/bench_postgresql.lua URL -- register PREFIX ID,ID,...
--       POST /api/v1/screenings/{ID}/registrations, the IDs in turn, each body with an
--       email no other request of the run uses (PREFIX, the thread's number, a counter)
--   wrk -s bench/bench_postgresql.lua URL -- get
--       GET URL as wrk does without a script
--
-- Either way done() prints one line, "BENCH {json}", for the Python side to read:
-- completed requests, duration, errors (non-2xx/3xx answers among them) and latency
-- percentiles, in microseconds.

local threads = {}
local mode, prefix, ids = "get", "w", {}
local counter = 0

function setup(thread)
  thread:set("number", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "get"
  prefix = args[2] or "w"
  for id in string.gmatch(args[3] or "", "[^,]+") do
    table.insert(ids, id)
  end
  if mode ~= "register" then
    request = nil  -- wrk then sends its one prepared GET, as without a script
  elseif #ids == 0 then
    error("register needs screening ids")
  end
end

local headers = {["Content-Type"] = "application/json"}

function request()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  local body = string.format(
    '{"name": "Bench %d", "email": "%s-%d-%d@example.org", "seats": 1}',
    counter, prefix, number, counter)
  return wrk.format("POST", "/api/v1/screenings/" .. id .. "/registrations", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
