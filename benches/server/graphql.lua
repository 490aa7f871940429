-- wrk script of the server benchmarks: every request is `POST /graphql` with the JSON body read
-- from the file named by WRK_BODY_FILE. WRK_TOKENS is a comma-separated list of bearer tokens;
-- thread i sends token i (modulo the list), so with as many threads as connections each
-- connection speaks for its own account. A response counts as failed when its status is not
-- 200 or its body holds a GraphQL "errors" entry, so a fast error is never counted as served.
-- `done` prints one machine-readable RESULT line (latencies in microseconds).

local tokens = {}
for token in string.gmatch(os.getenv("WRK_TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = token
end
local file = assert(io.open(assert(os.getenv("WRK_BODY_FILE"), "WRK_BODY_FILE is not set"), "rb"))
local body = file:read("*a")
file:close()

local threads = {}
local started = 0

function setup(thread)
  started = started + 1
  if #tokens > 0 then
    thread:set("token", tokens[((started - 1) % #tokens) + 1])
  end
  table.insert(threads, thread)
end

function init(args)
  failed = 0
  wrk.method = "POST"
  wrk.path = "/graphql"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/graphql-response+json"
  if token then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function response(status, headers, answer)
  if status ~= 200 or string.find(answer, '"errors"', 1, true) then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local failures = 0
  for _, thread in ipairs(threads) do
    failures = failures + thread:get("failed")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.0f failed=%d socket_errors=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    failures, e.connect + e.read + e.write + e.timeout))
end
