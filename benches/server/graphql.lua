-- wrk script of the server benchmarks: every request is `POST /graphql` with a JSON body.
-- WRK_BODY_FILE names one file, or several separated by commas: thread i sends the bodies of
-- file i (modulo the list), one body per line, in turn (a file of one line: always that body).
-- WRK_TOKENS is a comma-separated list of bearer tokens; thread i sends token i (modulo the
-- list), so with as many threads as connections each connection speaks for its own account and
-- sends its own bodies. A response counts as failed when its status is not 200 or its body holds
-- a GraphQL "errors" entry, so a fast error is never counted as served. `done` prints one
-- machine-readable RESULT line (latencies in microseconds).

local function split(text)
  local parts = {}
  for part in string.gmatch(text or "", "[^,]+") do
    parts[#parts + 1] = part
  end
  return parts
end

local tokens = split(os.getenv("WRK_TOKENS"))
local files = split(assert(os.getenv("WRK_BODY_FILE"), "WRK_BODY_FILE is not set"))
assert(#files > 0, "WRK_BODY_FILE names no file")

-- The bodies of one file, one per line.
local function bodies_of(path)
  local bodies = {}
  for line in io.lines(path) do
    if line ~= "" then
      bodies[#bodies + 1] = line
    end
  end
  assert(#bodies > 0, path .. " holds no body")
  return bodies
end

-- Whether any thread has more than one body to send: only then is a request built per send.
local cycling = #files > 1
for _, path in ipairs(files) do
  cycling = cycling or #bodies_of(path) > 1
end

local threads = {}
local started = 0

function setup(thread)
  started = started + 1
  thread:set("index", started)
  if #tokens > 0 then
    thread:set("token", tokens[((started - 1) % #tokens) + 1])
  end
  table.insert(threads, thread)
end

local bodies = {}
local sent = 0

function init(args)
  failed = 0
  bodies = bodies_of(files[((index - 1) % #files) + 1])
  wrk.method = "POST"
  wrk.path = "/graphql"
  wrk.body = bodies[1]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/graphql-response+json"
  if token then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

if cycling then
  function request()
    sent = sent + 1
    return wrk.format(nil, nil, nil, bodies[((sent - 1) % #bodies) + 1])
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
