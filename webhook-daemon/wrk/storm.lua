-- wrk script: the demo's storm against a running webhook-daemon.
--
--   wrk -t2 -c64 -d10s --latency -s webhook-daemon/wrk/storm.lua http://127.0.0.1:8080
--   wrk ... -s webhook-daemon/wrk/storm.lua http://127.0.0.1:8080 -- posts   (posts only)
--
-- Ids 0..299. Storm mix: 80% POST an event, 10% PUT (create or replace),
-- 5% DELETE, 5% GET one instance. `posts` mode: every request is a POST
-- (run the storm first, or PUT the ids, or most answers are 404).
-- At the end it prints the responses by status, summed over wrk's threads.

local ids = 300
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("number", counter)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "storm"
  counts = {}
  seq = 0
  math.randomseed(os.time() * 100 + number)
end

function request()
  local id = math.random(0, ids - 1)
  local dice = (mode == "posts") and 0 or math.random(1, 100)
  if dice <= 80 then
    seq = seq + 1
    local body = string.format('{"thread":%d,"seq":%d}', number, seq)
    return wrk.format("POST", "/instances/" .. id .. "/events", nil, body)
  elseif dice <= 90 then
    return wrk.format("PUT", "/instances/" .. id)
  elseif dice <= 95 then
    return wrk.format("DELETE", "/instances/" .. id)
  else
    return wrk.format("GET", "/instances/" .. id)
  end
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local codes = {}
  for status in pairs(total) do table.insert(codes, status) end
  table.sort(codes)
  io.write("responses by status:")
  for _, status in ipairs(codes) do
    io.write(string.format("  %d: %d", status, total[status]))
  end
  io.write("\n")
end
