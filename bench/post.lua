-- bench/post.lua — wrk script: POST one JSON body with Basic auth, as the
-- platform's streaming destination does, and print a summary that the bench
-- scripts read (lines starting "QXB").
--
-- Environment (set by bench/lib.sh and the scripts):
--   QXB_BODY         file holding the body (required)
--   QXB_AUTH_HEADER  the Authorization header value (optional)
--   QXB_LIMIT        stop each thread after this many answers (0: no bound;
--                    the duration still bounds the run)
--   QXB_UNIQUE       1: every request carries its own email, so each is a
--                    distinct profile: the body's "QXBEMAIL" becomes
--                    u<thread>-<n>@example.com, and every QXB_EVERY-th
--                    bad-<thread>-<n> (no address: that run ends FAILURE)

local function slurp(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local s = f:read("*a")
  f:close()
  return s
end

wrk.method = "POST"
wrk.body = slurp(os.getenv("QXB_BODY"))
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local auth = os.getenv("QXB_AUTH_HEADER")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

local every = tonumber(os.getenv("QXB_EVERY") or "0") or 0

if os.getenv("QXB_UNIQUE") == "1" then
  local pre, post = wrk.body:match("^(.-)QXBEMAIL(.*)$")
  assert(pre ~= nil, "QXB_UNIQUE=1 needs QXBEMAIL in the body")
  local tid_next = 0
  function setup(thread)
    thread:set("tid", tid_next)
    tid_next = tid_next + 1
  end
  local n = 0
  function request()
    n = n + 1
    local email
    if every > 1 and n % every == 0 then
      email = "bad-" .. tid .. "-" .. n
    else
      email = "u" .. tid .. "-" .. n .. "@example.com"
    end
    return wrk.format(nil, nil, nil, pre .. email .. post)
  end
end

local limit = tonumber(os.getenv("QXB_LIMIT") or "0") or 0
if limit > 0 then
  local answered = 0
  function response(status, headers, body)
    answered = answered + 1
    if answered >= limit then
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("QXB requests %d\n", summary.requests))
  io.write(string.format("QXB duration_us %d\n", summary.duration))
  io.write(string.format("QXB p50_us %d\n", latency:percentile(50)))
  io.write(string.format("QXB p99_us %d\n", latency:percentile(99)))
  io.write(string.format("QXB max_us %d\n", latency.max))
  io.write(string.format("QXB status_errors %d\n", e.status))
  io.write(string.format("QXB socket_errors %d\n", e.connect + e.read + e.write + e.timeout))
end
