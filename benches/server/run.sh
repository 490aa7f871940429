#!/usr/bin/env bash
# The server benchmarks of `ent serve`, in one run, on 127.0.0.1 only:
#
# 1. a release `ent serve --demo` on a fresh temporary data directory;
# 2. the parent's dashboard query (both children, each with classes, grades and averages,
#    homework and this week's timetable), at 64 connections, and beside it, in the same run,
#    a plain axum endpoint (benches/server/plain_axum) serving that query's captured JSON
#    answer from memory: the HTTP stack's own limit;
# 3. two mixes of queries and durable mutations at 64 connections, each two wrk processes at
#    once (so each kind keeps its own latency histogram; the achieved share of mutations is
#    printed). In both, 58 connections run the teacher's dashboard query;
#    - "visits": 6 other connections, one per demo account, record service visits
#      (`recordVisit`, one event appended and fsynced per request), which write nothing the
#      dashboard reads: the response cache's best case under writes;
#    - "amends": 6 connections of the same teacher amend the title of the assignments the
#      dashboard lists (`amendHomework`, each connection its own assignment, alternating two
#      titles; the teacher first publishes assignments until the dashboard lists six), so every
#      mutation changes what the dashboard reads: the cache's worst case;
#    steps 2 and 3 run twice: on a server with its response cache (graphql::response_cache: a
#    repeated query is answered from the kept bytes while the directory's facts, the records
#    of the read models it read and the Paris date are unchanged; its hits and misses during
#    each mix are printed), then on a second demo server started with
#    ENT_RESPONSE_CACHE_ENTRIES=0, where every query is executed;
# 4. the peak memory (VmHWM) of `ent serve` with the demo académie after all that load, and
#    with a generated région (projections/benches/gen) of about 100,000 accounts, once its
#    read models have caught up with the log.
#
# The load tool is wrk (Debian package), driven by benches/server/graphql.lua. wrk and the
# server share the machine's cores. With ENT_BENCH_PIN=1 the server under test runs on CPU 0
# and wrk on CPU 1 (taskset); on a machine where other work runs too, pinning leaves the server
# stuck behind that work on its one core (on the 2-core development machine it cut the plain
# endpoint from about 45,000 to 27,000 requests/s and raised its p99 from 16 to 73 ms), so the
# default is unpinned: the server and wrk share both cores, for the baseline and `ent` alike.
#
# Usage: benches/server/run.sh            (writes benches/results/server.md)
# Environment:
#   ENT_BENCH_SECONDS       seconds per measurement (default 15; a 2 s warm-up precedes each)
#   ENT_BENCH_REGION_EVENTS events of the generated région (default 2000000: about 100,000
#                           accounts at 50 events per student); 0 skips the région
#   ENT_BENCH_PIN           1 pins server and wrk to separate CPUs, 0 does not (default)
#   ENT_BENCH_OUT           where the Markdown figures go
#   ENT_BENCH_NO_CACHE      1 (default) also measures a server without the response cache; 0 skips it
#   TMPDIR                  where the servers' data directories go (default /tmp). The report names
#                           its file system: on tmpfs (TMPDIR=/dev/shm) an fdatasync returns at once,
#                           so the mutations are no longer durable, but comparing such a run with one
#                           on disk separates the disk's sync latency from the server's own work.
#
# For each mix the report also gives the server's own account of the mutations (from /metrics):
# how many took over the 20 ms target, each counted once, their mean time in the server, the
# part of it spent in the durable append (the log's queue, write and fdatasync), and how many
# appends took over 20 and over 100 ms.
#
# wrk's latencies are corrected for coordinated omission (its `stats_correct`): after the run,
# each response that took more than a connection's mean interval between requests adds the
# samples a client sending at that steady rate would have seen during the wait (the latency
# minus one interval, minus two, and so on). A request of 200 ms on a connection that sends
# one every 4 ms thus counts as about 50 samples from 4 to 200 ms, so one stall of the log's
# sync under the six mutation connections moves their p99 far more than its share of requests;
# the server's /metrics count each request once.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/benches/server"
SECONDS_EACH=${ENT_BENCH_SECONDS:-15}
WARMUP_SECONDS=2
CONNECTIONS=64
MUTATION_CONNECTIONS=6
QUERY_CONNECTIONS=$((CONNECTIONS - MUTATION_CONNECTIONS))
REGION_EVENTS=${ENT_BENCH_REGION_EVENTS:-2000000}
PIN=${ENT_BENCH_PIN:-0}
OUT=${ENT_BENCH_OUT:-$ROOT/benches/results/server.md}
READY_TIMEOUT_S=1800
NO_CACHE=${ENT_BENCH_NO_CACHE:-1}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ent-server-bench.XXXXXX")
data_fs=$(df -T "$WORK" | awk 'NR == 2 {print $2}')
data_device=$(df -T "$WORK" | awk 'NR == 2 {print $1}')
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { echo "== $*" >&2; }
fail() {
  echo "error: $*" >&2
  exit 1
}

# --- tools -------------------------------------------------------------------------------------

if ! command -v wrk >/dev/null; then
  say "installing wrk (Debian package)"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
  fi
fi
for tool in curl jq; do
  command -v "$tool" >/dev/null || fail "$tool is needed (apt-get install $tool)"
done

server_cpu=()
load_cpu=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0)
  load_cpu=(taskset -c 1)
fi

say "building ent (release) and the plain axum baseline"
(cd "$ROOT" && cargo build --release --quiet --bin ent)
(cd "$HERE/plain_axum" && CARGO_TARGET_DIR="$ROOT/target/plain_axum" cargo build --release --quiet)
ENT="$ROOT/target/release/ent"
PLAIN="$ROOT/target/plain_axum/release/plain_axum"

# --- helpers -----------------------------------------------------------------------------------

# start NAME COMMAND...: starts a server in the background, waits for its "listening on" line;
# sets PID and ADDR.
start() {
  local name=$1
  shift
  "${server_cpu[@]}" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PID=$!
  PIDS+=("$PID")
  local waited=0
  until grep -q '^listening on http://' "$WORK/$name.out" 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || fail "$name exited: $(tail -5 "$WORK/$name.err")"
    sleep 0.2
    waited=$((waited + 1))
    [ "$waited" -lt $((READY_TIMEOUT_S * 5)) ] || fail "$name never printed its address"
  done
  ADDR=$(sed -n 's|^listening on http://||p' "$WORK/$name.out" | head -1)
}

# stop PID: SIGTERM, and wait for the exit.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# wait_ready ADDR: polls /ready until 200; prints the seconds waited.
wait_ready() {
  local started
  started=$(date +%s.%N)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$1/ready")" = 200 ]; do
    sleep 0.2
    [ "$(echo "$(date +%s.%N) - $started < $READY_TIMEOUT_S" | bc)" = 1 ] ||
      fail "http://$1 never became ready"
  done
  echo "$(date +%s.%N) - $started" | bc
}

# body QUERY: a GraphQL request body.
body() { jq -cn --arg q "$1" '{query: $q}'; }

# gql ADDR TOKEN QUERY: the JSON answer.
gql() {
  local auth=()
  [ -n "$2" ] && auth=(-H "Authorization: Bearer $2")
  curl -s "http://$1/graphql" -H 'Content-Type: application/json' \
    -H 'Accept: application/graphql-response+json' "${auth[@]}" --data-binary "$(body "$3")"
}

# login ADDR IDENTIFIER PASSWORD: a bearer token.
login() {
  local q
  q=$(jq -rn --arg i "$2" --arg p "$3" '"mutation { login(identifier: \($i|tojson), password: \($p|tojson)) { token } }"')
  gql "$1" "" "$q" | jq -er '.data.login.token' || fail "cannot log in as $2"
}

# vmhwm PID: peak resident set in KiB.
vmhwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
vmrss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# load NAME ADDR THREADS CONNECTIONS SECONDS BODY_FILE TOKENS: one wrk run; prints its RESULT
# line (and keeps wrk's whole output in $WORK/NAME.wrk).
load() {
  WRK_BODY_FILE=$6 WRK_TOKENS=$7 "${load_cpu[@]}" wrk -t "$3" -c "$4" -d "${5}s" --timeout 10s \
    --latency -s "$HERE/graphql.lua" "http://$2" >"$WORK/$1.wrk" 2>&1 ||
    fail "wrk failed: $(cat "$WORK/$1.wrk")"
  grep '^RESULT' "$WORK/$1.wrk" || fail "wrk printed no result: $(cat "$WORK/$1.wrk")"
}

# field LINE NAME: one number of a RESULT line.
field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<" $1"; }
rps() { echo "scale=0; $(field "$1" requests) * 1000000 / $(field "$1" duration_us)" | bc; }
ms() { echo "scale=2; $(field "$1" "$2") / 1000" | bc | sed 's/^\./0./'; }
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }

# metric TEXT NAME: one sample of a /metrics snapshot, by its full name (labels included).
metric() { awk -v n="$2" '$1 == n {print $2}' <<<"$1"; }

# append_line NAME: the server's own account of the mutations of mix NAME, from /metrics: each
# request counted once (no correction for coordinated omission), their mean time in the server,
# the mean durable append, the mutations over the 20 ms target, and the appends over 20 and
# over 100 ms.
append_line() {
  local before after
  before=$(cat "$WORK/$1.metrics-before")
  after=$(cat "$WORK/$1.metrics-after")
  d() { echo "$(metric "$after" "$1") - $(metric "$before" "$1")" | bc; }
  local mutations mutation_s mutations20 appends append_s appends20 appends100
  mutations=$(d 'graphql_request_duration_seconds_count{operation="mutation"}')
  mutation_s=$(d 'graphql_request_duration_seconds_sum{operation="mutation"}')
  mutations20=$(d 'graphql_request_duration_seconds_bucket{operation="mutation",le="0.02"}')
  appends=$(d eventlog_append_duration_seconds_count)
  append_s=$(d eventlog_append_duration_seconds_sum)
  appends20=$(d 'eventlog_append_duration_seconds_bucket{le="0.02"}')
  appends100=$(d 'eventlog_append_duration_seconds_bucket{le="0.1"}')
  [ "$mutations" -gt 0 ] && [ "$appends" -gt 0 ] || {
    echo "no mutation recorded"
    return
  }
  printf '%d of %d mutations (%.2f %%) took over 20 ms in the server; a mutation spent %.2f ms there on average, of which %.2f ms in the durable append; %d appends took over 20 ms, %d over 100 ms' \
    "$((mutations - mutations20))" "$mutations" "$(echo "100 * ($mutations - $mutations20) / $mutations" | bc -l)" \
    "$(echo "1000 * $mutation_s / $mutations" | bc -l)" "$(echo "1000 * $append_s / $appends" | bc -l)" \
    "$((appends - appends20))" "$((appends - appends100))"
}

# --- the demo académie -------------------------------------------------------------------------

say "seeding the demo académie (ent serve --demo)"
seed_started=$(date +%s.%N)
start demo "$ENT" serve --demo --data "$WORK/demo" --listen 127.0.0.1:0
DEMO_PID=$PID
DEMO=$ADDR
# The logins follow the address; wait for the last one.
until [ "$(sed -n '/^demo logins/,$p' "$WORK/demo.out" | tail -n +2 | wc -l)" -ge 9 ]; do sleep 0.2; done
wait_ready "$DEMO" >/dev/null
seed_s=$(echo "$(date +%s.%N) - $seed_started" | bc)
say "demo serving on $DEMO after ${seed_s} s"

# demo_logins NAME: fills ID and PW by role from the demo's printed logins ("  role words…
# identifier password": the last two words are the credentials).
declare -A ID PW
demo_logins() {
  local line words n role
  while read -r line; do
    words=($line)
    n=${#words[@]}
    role="${words[*]:0:n-2}"
    ID[$role]=${words[n - 2]}
    PW[$role]=${words[n - 1]}
  done < <(sed -n '/^demo logins/,$p' "$WORK/$1.out" | tail -n +2)
}
demo_logins demo

PARENT=$(login "$DEMO" "${ID[parent]}" "${PW[parent]}")
TEACHER=$(login "$DEMO" "${ID[teacher]}" "${PW[teacher]}")

DASHBOARD='{ children { id givenName familyName
  classes { id name year }
  grades { grades { subject title date scale coefficient mark { kind value } comment corrected }
           subjectAverages { subject average } overallAverage }
  homework(first: 20) { edges { node { status assignment { id subject title dueAt instructions }
                                       submission { id versions { version handedInAt late } } } } }
  timetable { date start end subject room status reason } } }'
body "$DASHBOARD" >"$WORK/dashboard.body"
gql "$DEMO" "$PARENT" "$DASHBOARD" >"$WORK/dashboard.json"
jq -e '(.errors | not) and (.data.children | length == 2)' "$WORK/dashboard.json" >/dev/null ||
  fail "the parent's dashboard failed: $(head -c 600 "$WORK/dashboard.json")"
dashboard_bytes=$(wc -c <"$WORK/dashboard.json")
dashboard_shape=$(jq -r '[.data.children[] | "\(.grades.grades | length) grades, \(.homework.edges | length) homework, \(.timetable | length) lessons"] | join("; ")' "$WORK/dashboard.json")

TEACHER_DASHBOARD='{ me { givenName familyName teaches { id name subject } }
  assignments(first: 10) { edges { node { assignment { id title dueAt } students { studentId status versions } } } }
  conversations(first: 10) { edges { node { id subject unread } } }
  unreadNotifications }'
body "$TEACHER_DASHBOARD" >"$WORK/teacher.body"
gql "$DEMO" "$TEACHER" "$TEACHER_DASHBOARD" >"$WORK/teacher.json"
jq -e '.errors | not' "$WORK/teacher.json" >/dev/null ||
  fail "the teacher's dashboard failed: $(head -c 600 "$WORK/teacher.json")"
teacher_bytes=$(wc -c <"$WORK/teacher.json")

# The mutation: a visit to a service, by distinct accounts (one connection each, so no two
# requests in flight ever write to one account's stream at once).
VISIT='mutation { recordVisit(service: HOMEWORK) { position events } }'
body "$VISIT" >"$WORK/visit.body"
# visitor_tokens ADDR: the comma-separated tokens of the accounts recording visits.
visitor_tokens() {
  local visitors=() role token
  for role in teacher parent student "staff (vie scolaire)" "establishment admin" "publication director" \
    "partner company" analyst "platform admin"; do
    [ "${#visitors[@]}" -lt "$MUTATION_CONNECTIONS" ] || break
    token=$(login "$1" "${ID[$role]}" "${PW[$role]}")
    if gql "$1" "$token" "$VISIT" | jq -e '(.errors | not) and (.data.recordVisit.events | length == 1)' >/dev/null; then
      visitors+=("$token")
    fi
  done
  [ "${#visitors[@]}" -eq "$MUTATION_CONNECTIONS" ] ||
    fail "only ${#visitors[@]} demo accounts may record a visit"
  (
    IFS=,
    echo "${visitors[*]}"
  )
}
VISITORS=$(visitor_tokens "$DEMO")

# amend_setup ADDR TOKEN NAME: readies the amends mix on a server: when the teacher's dashboard
# lists fewer assignments than there are mutation connections, the teacher publishes more in a
# class they teach (due in 30 days), so that each connection amends its own assignment (two
# connections amending one assignment would conflict); then writes NAME.amend.N.body, one file
# per connection, each with two amendHomework bodies (the assignment's title, then the title with
# a mark), and the dashboard's answer as NAME.amend-dashboard.json. Prints the comma-separated
# files.
amend_setup() {
  local ids titles n i id title files=() class subject due publish
  gql "$1" "$2" "$TEACHER_DASHBOARD" >"$WORK/$3.amend-dashboard.json"
  n=$(jq '.data.assignments.edges | length' "$WORK/$3.amend-dashboard.json")
  if [ "$n" -lt "$MUTATION_CONNECTIONS" ]; then
    class=$(jq -r '.data.me.teaches[0].id' "$WORK/$3.amend-dashboard.json")
    subject=$(jq -r '.data.me.teaches[0].subject' "$WORK/$3.amend-dashboard.json")
    due=$(date -u -d '+30 days' +%Y-%m-%dT08:00:00Z)
    for ((i = n; i < MUTATION_CONNECTIONS; i++)); do
      publish=$(jq -rn --arg c "$class" --arg s "$subject" --arg d "$due" --arg t "Exercices, série $i" \
        '"mutation { publishHomework(input: {classId: \($c|tojson), subject: \($s|tojson), title: \($t|tojson), instructions: \("Page 52."|tojson), dueAt: \($d|tojson)}) { position } }"')
      gql "$1" "$2" "$publish" | jq -e '.errors | not' >/dev/null || fail "the teacher cannot publish homework: $(gql "$1" "$2" "$publish")"
    done
    sleep 1
    gql "$1" "$2" "$TEACHER_DASHBOARD" >"$WORK/$3.amend-dashboard.json"
  fi
  mapfile -t ids < <(jq -r '.data.assignments.edges[].node.assignment.id' "$WORK/$3.amend-dashboard.json")
  mapfile -t titles < <(jq -r '.data.assignments.edges[].node.assignment.title' "$WORK/$3.amend-dashboard.json")
  [ "${#ids[@]}" -ge "$MUTATION_CONNECTIONS" ] || fail "the teacher's dashboard lists ${#ids[@]} assignments, not $MUTATION_CONNECTIONS"
  for ((i = 0; i < MUTATION_CONNECTIONS; i++)); do
    id=${ids[i]}
    title=${titles[i]}
    {
      body "$(jq -rn --arg a "$id" --arg t "$title" '"mutation { amendHomework(assignmentId: \($a|tojson), title: \($t|tojson)) { position events } }"')"
      body "$(jq -rn --arg a "$id" --arg t "$title (!)" '"mutation { amendHomework(assignmentId: \($a|tojson), title: \($t|tojson)) { position events } }"')"
    } >"$WORK/$3.amend.$i.body"
    gql "$1" "$2" "$(jq -r .query "$WORK/$3.amend.$i.body" | head -1)" |
      jq -e '(.errors | not) and (.data.amendHomework.events | length == 1)' >/dev/null ||
      fail "the teacher cannot amend assignment $id"
    files+=("$WORK/$3.amend.$i.body")
  done
  (
    IFS=,
    echo "${files[*]}"
  )
}
# repeat TEXT N: TEXT N times, comma-separated.
repeat() {
  local i out=$1
  for ((i = 1; i < $2; i++)); do out="$out,$1"; done
  echo "$out"
}

say "plain axum baseline serving the captured dashboard answer"
start plain "$PLAIN" 127.0.0.1:0 "$WORK/dashboard.json"
PLAIN_PID=$PID
PLAIN_ADDR=$ADDR
cmp -s <(curl -s "http://$PLAIN_ADDR/graphql" --data-binary @"$WORK/dashboard.body") "$WORK/dashboard.json" ||
  fail "the baseline does not serve the captured answer"

say "plain endpoint, ${SECONDS_EACH} s at $CONNECTIONS connections"
load warm "$PLAIN_ADDR" 2 "$CONNECTIONS" "$WARMUP_SECONDS" "$WORK/dashboard.body" "" >/dev/null
plain=$(load plain "$PLAIN_ADDR" 2 "$CONNECTIONS" "$SECONDS_EACH" "$WORK/dashboard.body" "")
stop "$PLAIN_PID"

say "parent's dashboard, ${SECONDS_EACH} s at $CONNECTIONS connections"
load warm "$DEMO" 2 "$CONNECTIONS" "$WARMUP_SECONDS" "$WORK/dashboard.body" "$PARENT" >/dev/null
dash=$(load dashboard "$DEMO" 2 "$CONNECTIONS" "$SECONDS_EACH" "$WORK/dashboard.body" "$PARENT")

# mix NAME ADDR TEACHER_TOKEN MUTATION_TOKENS MUTATION_BODIES: one mix; writes NAME.q.result
# and NAME.m.result, the head and the /metrics before and after.
mix() {
  say "$1: teacher's dashboard ($QUERY_CONNECTIONS connections) + mutations ($MUTATION_CONNECTIONS connections), ${SECONDS_EACH} s"
  load warm "$2" 2 "$QUERY_CONNECTIONS" "$WARMUP_SECONDS" "$WORK/teacher.body" "$3" >/dev/null
  gql "$2" "" '{ logHead { position } }' | jq -r .data.logHead.position >"$WORK/$1.head-before"
  curl -s "http://$2/metrics" >"$WORK/$1.metrics-before"
  load "$1_queries" "$2" 2 "$QUERY_CONNECTIONS" "$SECONDS_EACH" "$WORK/teacher.body" "$3" >"$WORK/$1.q.result" &
  local queries_job=$!
  load "$1_mutations" "$2" "$MUTATION_CONNECTIONS" "$MUTATION_CONNECTIONS" "$SECONDS_EACH" "$5" "$4" >"$WORK/$1.m.result"
  wait "$queries_job"
  gql "$2" "" '{ logHead { position } }' | jq -r .data.logHead.position >"$WORK/$1.head-after"
  curl -s "http://$2/metrics" >"$WORK/$1.metrics-after"
}

# cache_line NAME: how the response cache answered the queries of mix NAME, from /metrics: from
# a kept answer (hit), from the answer of a concurrent request for the same question (shared),
# or computed (miss).
cache_line() {
  local before after hits shared misses
  before=$(cat "$WORK/$1.metrics-before")
  after=$(cat "$WORK/$1.metrics-after")
  delta() { echo $(($(metric "$after" "graphql_response_cache_lookups_total{outcome=\"$1\"}") - $(metric "$before" "graphql_response_cache_lookups_total{outcome=\"$1\"}"))); }
  hits=$(delta hit)
  shared=$(delta shared)
  misses=$(delta miss)
  echo "$hits hits, $shared shared with a concurrent computation, $misses computed ($(echo "scale=1; 100 * $hits / ($hits + $shared + $misses + (($hits + $shared + $misses) == 0))" | bc | sed 's/^\./0./') % hits)"
}

mix mix "$DEMO" "$TEACHER" "$VISITORS" "$WORK/visit.body"
mixq=$(cat "$WORK/mix.q.result")
mixm=$(cat "$WORK/mix.m.result")
mix_cache=$(cache_line mix)
mix_appends=$(append_line mix)
# After the visits mix, so that its dashboard is the demo's as it is.
AMEND_BODIES=$(amend_setup "$DEMO" "$TEACHER" demo)
amend_bytes=$(gql "$DEMO" "$TEACHER" "$TEACHER_DASHBOARD" | wc -c)
amend_listed=$(jq '.data.assignments.edges | length' "$WORK/demo.amend-dashboard.json")
mix amend "$DEMO" "$TEACHER" "$(repeat "$TEACHER" "$MUTATION_CONNECTIONS")" "$AMEND_BODIES"
amendq=$(cat "$WORK/amend.q.result")
amendm=$(cat "$WORK/amend.m.result")
amend_cache=$(cache_line amend)
amend_appends=$(append_line amend)
metrics_before=$(cat "$WORK/mix.metrics-before")
metrics_after=$(cat "$WORK/mix.metrics-after")
appended=$(($(cat "$WORK/mix.head-after") - $(cat "$WORK/mix.head-before")))
amend_appended=$(($(cat "$WORK/amend.head-after") - $(cat "$WORK/amend.head-before")))
appends_before=$(metric "$metrics_before" eventlog_append_duration_seconds_count)
appends_after=$(metric "$metrics_after" eventlog_append_duration_seconds_count)
grep -E '^eventlog_append_duration_seconds_bucket' <<<"$metrics_after" >"$WORK/append-buckets.after" || true
grep -E '^eventlog_append_duration_seconds_bucket' <<<"$metrics_before" >"$WORK/append-buckets.before" || true

demo_hwm=$(vmhwm "$DEMO_PID")
demo_rss=$(vmrss "$DEMO_PID")
demo_events=$(gql "$DEMO" "" '{ logHead { position } }' | jq -r .data.logHead.position)
stop "$DEMO_PID"

# --- the same without the response cache --------------------------------------------------------

if [ "$NO_CACHE" = 1 ]; then
  say "a second demo académie without the response cache (ENT_RESPONSE_CACHE_ENTRIES=0)"
  start nocache env ENT_RESPONSE_CACHE_ENTRIES=0 "$ENT" serve --demo --data "$WORK/nocache" --listen 127.0.0.1:0
  NOCACHE_PID=$PID
  NOCACHE=$ADDR
  until [ "$(sed -n '/^demo logins/,$p' "$WORK/nocache.out" | tail -n +2 | wc -l)" -ge 9 ]; do sleep 0.2; done
  wait_ready "$NOCACHE" >/dev/null
  demo_logins nocache
  NC_PARENT=$(login "$NOCACHE" "${ID[parent]}" "${PW[parent]}")
  NC_TEACHER=$(login "$NOCACHE" "${ID[teacher]}" "${PW[teacher]}")
  gql "$NOCACHE" "$NC_PARENT" "$DASHBOARD" | jq -e '(.errors | not) and (.data.children | length == 2)' >/dev/null ||
    fail "the parent's dashboard failed without the cache"
  NC_VISITORS=$(visitor_tokens "$NOCACHE")

  say "parent's dashboard without the response cache, ${SECONDS_EACH} s at $CONNECTIONS connections"
  load warm "$NOCACHE" 2 "$CONNECTIONS" "$WARMUP_SECONDS" "$WORK/dashboard.body" "$NC_PARENT" >/dev/null
  dash_nc=$(load dashboard_nc "$NOCACHE" 2 "$CONNECTIONS" "$SECONDS_EACH" "$WORK/dashboard.body" "$NC_PARENT")
  mix mix_nc "$NOCACHE" "$NC_TEACHER" "$NC_VISITORS" "$WORK/visit.body"
  mixq_nc=$(cat "$WORK/mix_nc.q.result")
  mixm_nc=$(cat "$WORK/mix_nc.m.result")
  NC_AMEND_BODIES=$(amend_setup "$NOCACHE" "$NC_TEACHER" nocache)
  mix amend_nc "$NOCACHE" "$NC_TEACHER" "$(repeat "$NC_TEACHER" "$MUTATION_CONNECTIONS")" "$NC_AMEND_BODIES"
  amendq_nc=$(cat "$WORK/amend_nc.q.result")
  amendm_nc=$(cat "$WORK/amend_nc.m.result")
  mix_nc_appends=$(append_line mix_nc)
  amend_nc_appends=$(append_line amend_nc)
  stop "$NOCACHE_PID"
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- a generated région ------------------------------------------------------------------------

region_line="not measured (ENT_BENCH_REGION_EVENTS=0)"
if [ "$REGION_EVENTS" -gt 0 ]; then
  say "generating (or reusing) a région of $REGION_EVENTS events with projections/benches/gen"
  # The replay benchmark writes the région's log once under target/bench-data/ (kept between
  # runs) before measuring replays over it.
  (cd "$ROOT" && ENT_BENCH_EVENTS=$REGION_EVENTS cargo bench --quiet -p projections --bench replay \
    >"$WORK/region-gen.out" 2>&1) || fail "generating the région failed: $(tail -5 "$WORK/region-gen.out")"
  generated=$(ls -d "$ROOT"/target/bench-data/region-v*-seed*-"$REGION_EVENTS" | sort -V | tail -1)
  [ -f "$generated/generated.txt" ] || fail "no generated région under target/bench-data"
  region_accounts=$(awk '$1 == "accounts" {print $2}' "$generated/generated.txt")
  region_establishments=$(awk '$1 == "populated" {print $2}' "$generated/generated.txt")
  # A copy, so the server's own appends never touch the cached log.
  mkdir -p "$WORK/region"
  cp -r "$generated" "$WORK/region/log"
  rm -f "$WORK/region/log/LOCK" "$WORK/region/log/generated.txt"
  say "ent serve over the région ($region_accounts accounts): waiting for the read models"
  launched=$(date +%s.%N)
  start region "$ENT" serve --data "$WORK/region" --listen 127.0.0.1:0
  REGION_PID=$PID
  wait_ready "$ADDR" >/dev/null
  ready_s=$(echo "$(date +%s.%N) - $launched" | bc)
  region_hwm_ready=$(vmhwm "$REGION_PID")
  region_rss_ready=$(vmrss "$REGION_PID")
  stop "$REGION_PID"
  region_line=$(printf '%s events, %s accounts (%s populated establishments): ready %.0f s after launch (read models caught up); VmHWM %s MiB, VmRSS %s MiB once ready' \
    "$REGION_EVENTS" "$region_accounts" "$region_establishments" "$ready_s" \
    "$((region_hwm_ready / 1024))" "$((region_rss_ready / 1024))")
fi

# --- the report --------------------------------------------------------------------------------

plain_rps=$(rps "$plain")
dash_rps=$(rps "$dash")
mixq_rps=$(rps "$mixq")
mixm_rps=$(rps "$mixm")
mutation_share=$(echo "scale=1; 100 * $mixm_rps / ($mixq_rps + $mixm_rps)" | bc | sed 's/^\./0./')
amend_share=$(echo "scale=1; 100 * $(rps "$amendm") / ($(rps "$amendq") + $(rps "$amendm"))" | bc | sed 's/^\./0./')
row() { printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$(rps "$3")" "$(ms "$3" p50_us)" "$(ms "$3" p99_us)" "$(ms "$3" max_us)" "$(field "$3" failed)/$(field "$3" requests)"; }
pinning="unpinned (server and wrk share both cores)"
[ "${#server_cpu[@]}" -gt 0 ] && pinning="server on CPU 0, wrk on CPU 1 (taskset)"

{
  echo "## Server (ent serve)"
  echo
  echo "Run: \`benches/server/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $pinning;"
  echo "wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), ${SECONDS_EACH} s per measurement after a ${WARMUP_SECONDS} s warm-up, $CONNECTIONS connections, 127.0.0.1."
  echo "Load average (1, 5, 15 min) at the start: $load_start; at the end of the demo runs: $load_end."
  echo "Data directories on $data_fs ($data_device)."
  echo "Demo académie: $demo_events events after the run, seeded and ready in $(printf '%.1f' "$seed_s") s."
  echo "Parent's dashboard answer: $dashboard_bytes bytes ($dashboard_shape)."
  echo "Teacher's dashboard answer: $teacher_bytes bytes."
  echo
  echo "| measurement | connections | requests/s | p50 ms | p99 ms | max ms | failed/requests |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  row "plain axum, captured dashboard JSON from memory (baseline)" "$CONNECTIONS" "$plain"
  row "parent's dashboard query (ent serve)" "$CONNECTIONS" "$dash"
  row "visits mix: teacher's dashboard query" "$QUERY_CONNECTIONS" "$mixq"
  row "visits mix: recordVisit mutation (durable)" "$MUTATION_CONNECTIONS" "$mixm"
  row "amends mix: teacher's dashboard query" "$QUERY_CONNECTIONS" "$amendq"
  row "amends mix: amendHomework mutation (durable)" "$MUTATION_CONNECTIONS" "$amendm"
  if [ "$NO_CACHE" = 1 ]; then
    row "parent's dashboard query, no response cache" "$CONNECTIONS" "$dash_nc"
    row "visits mix, no response cache: teacher's dashboard query" "$QUERY_CONNECTIONS" "$mixq_nc"
    row "visits mix, no response cache: recordVisit mutation (durable)" "$MUTATION_CONNECTIONS" "$mixm_nc"
    row "amends mix, no response cache: teacher's dashboard query" "$QUERY_CONNECTIONS" "$amendq_nc"
    row "amends mix, no response cache: amendHomework mutation (durable)" "$MUTATION_CONNECTIONS" "$amendm_nc"
  fi
  echo
  echo "| target | measured | met |"
  echo "|---|---:|---|"
  r=$(ratio "$dash_rps" "$plain_rps")
  echo "| dashboard / plain endpoint throughput ≥ 0.5 | $r | $([ "$(echo "$r >= 0.5" | bc)" = 1 ] && echo yes || echo no) |"
  p=$(ms "$dash" p99_us)
  echo "| dashboard p99 < 10 ms | $p ms | $([ "$(echo "$p < 10" | bc)" = 1 ] && echo yes || echo no) |"
  p=$(ms "$mixm" p99_us)
  echo "| mutations p99 < 20 ms (durable), visits mix | $p ms | $([ "$(echo "$p < 20" | bc)" = 1 ] && echo yes || echo no) |"
  p=$(ms "$amendm" p99_us)
  echo "| mutations p99 < 20 ms (durable), amends mix | $p ms | $([ "$(echo "$p < 20" | bc)" = 1 ] && echo yes || echo no) |"
  if [ "$NO_CACHE" = 1 ]; then
    r=$(ratio "$(rps "$dash_nc")" "$plain_rps")
    echo "| without the response cache: dashboard / plain endpoint ≥ 0.5 | $r | $([ "$(echo "$r >= 0.5" | bc)" = 1 ] && echo yes || echo no) |"
    p=$(ms "$dash_nc" p99_us)
    echo "| without the response cache: dashboard p99 < 10 ms | $p ms | $([ "$(echo "$p < 10" | bc)" = 1 ] && echo yes || echo no) |"
    p=$(ms "$mixm_nc" p99_us)
    echo "| without the response cache: mutations p99 < 20 ms, visits mix | $p ms | $([ "$(echo "$p < 20" | bc)" = 1 ] && echo yes || echo no) |"
    p=$(ms "$amendm_nc" p99_us)
    echo "| without the response cache: mutations p99 < 20 ms, amends mix | $p ms | $([ "$(echo "$p < 20" | bc)" = 1 ] && echo yes || echo no) |"
  fi
  echo
  echo "Visits mix: mutations were $mutation_share % of the requests served; the log grew by $appended events"
  echo "($((appends_after - appends_before)) appends by the server's own count); the response cache: $mix_cache."
  echo "Amends mix ($MUTATION_CONNECTIONS of the $amend_listed assignments the dashboard lists amended, one per connection; the"
  echo "teacher's dashboard answer $amend_bytes bytes): mutations were $amend_share % of the requests served; the log grew"
  echo "by $amend_appended events; the response cache: $amend_cache."
  echo
  echo "The server's own account of the mutations (/metrics):"
  echo
  echo "- visits mix: $mix_appends."
  echo "- amends mix: $amend_appends."
  if [ "$NO_CACHE" = 1 ]; then
    echo "- visits mix, no response cache: $mix_nc_appends."
    echo "- amends mix, no response cache: $amend_nc_appends."
  fi
  echo
  echo "Peak memory (VmHWM of the \`ent serve\` process):"
  echo
  echo "- demo académie, after seeding and all the load above: $((demo_hwm / 1024)) MiB (VmRSS at the end $((demo_rss / 1024)) MiB);"
  echo "- generated région: $region_line."
} | tee "$OUT"

{
  echo
  echo "Append latency histogram during the run (server's /metrics, cumulative, before → after):"
  paste -d' ' "$WORK/append-buckets.before" "$WORK/append-buckets.after" | awk '{print "  " $1 " " $2 " -> " $4}'
} >&2
