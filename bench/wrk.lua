-- wrk script for the benchmarks in bench/ (through bench/common.py's `wrk()`).
--
--   wrk -s bench/wrk.lua URL -- get
--       GET URL as wrk does without a script (headers from -H); statuses not counted,
--       only the non-2xx/3xx total wrk keeps anyway (cheapest for big bodies)
--   wrk -s bench/wrk.lua URL -- statuses
--       the same GET, each answer's status counted (e.g. to check they are all 304)
--   wrk -s bench/wrk.lua URL -- register PREFIX PATH[,PATH...]
--       POST a JSON registration to each PATH in turn, every body with an email no
--       other request of the run uses (PREFIX, the thread's number, a counter);
--       statuses counted
--
-- Whatever the mode, done() prints one line, "BENCH {json}", for the Python side:
-- completed requests, duration and latency percentiles (microseconds), bytes read,
-- errors, and the count of each status when counted.

local threads = {}
local mode, prefix, paths = "get", "w", {}
local counter = 0
statuses = {}

function setup(thread)
  thread:set("number", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "get"
  prefix = args[2] or "w"
  for path in string.gmatch(args[3] or "", "[^,]+") do
    table.insert(paths, path)
  end
  if mode == "register" then
    if #paths == 0 then
      error("register needs paths")
    end
  else
    request = nil  -- wrk then sends its one prepared GET, as without a script
  end
  if mode == "get" then
    response = nil  -- wrk then neither keeps headers nor bodies for Lua
  end
end

local headers = {["Content-Type"] = "application/json"}

function request()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  local body = string.format(
    '{"name": "Bench %d", "email": "%s-%d-%d@example.org", "seats": 1}',
    counter, prefix, number, counter)
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counted = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      counted[status] = (counted[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counted) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx3xx": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, "p50_us": %d, ' ..
    '"p99_us": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(99),
    table.concat(parts, ", ")))
end
