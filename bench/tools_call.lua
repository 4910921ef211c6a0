-- wrk script: POST JSON-RPC requests from a file in turn, check every response, and
-- print one machine-readable summary line for bench/loadgen.py.
--
--   wrk -s bench/tools_call.lua http://127.0.0.1:PORT/mcp -- requests.txt [EXPECTED]
--
-- Each line of the file is a JSON-RPC request cut just before its id value
-- ('{"jsonrpc":"2.0",...,"id":'); the script appends a fresh id and the closing
-- brace, because requests in flight on one MCP session must not share an id.
-- A response counts as a success only when it is HTTP 200, a JSON-RPC result
-- (not an error), not a tool error, and carries EXPECTED: the echo's text for
-- the echo benchmark; by default '"structuredContent"', which every search
-- result has.

local bodies = {}
local counter = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id_base", #threads * 1000000000)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    if #line > 0 then
      table.insert(bodies, line)
    end
  end
  file:close()
  assert(#bodies > 0, "no request bodies in " .. args[1])
  expected = args[2] or '"structuredContent"'
  -- A global, so that done() can read it from each thread.
  bad = 0
end

function request()
  counter = counter + 1
  local body = bodies[(counter - 1) % #bodies + 1] .. (id_base + counter) .. "}"
  return wrk.format("POST", nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200
    or not string.find(body, '"result"', 1, true)
    or not string.find(body, expected, 1, true)
    or string.find(body, '"isError":true', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local bad_total = 0
  for _, thread in ipairs(threads) do
    bad_total = bad_total + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_SUMMARY {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "bad_responses": %d, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, bad_total,
    latency:percentile(50), latency:percentile(99), latency.max
  ))
end
