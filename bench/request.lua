-- The request wrk sends, from the environment:
--   BENCH_METHOD  GET (default) or POST
--   BENCH_TOKEN   sent as "Authorization: Bearer <token>" when set
--   BENCH_BODY    a JSON body; each "{n}" in it becomes a name no other
--                 request of the benchmark uses (BENCH_RUN keeps runs apart)

local method = os.getenv("BENCH_METHOD") or "GET"
local token = os.getenv("BENCH_TOKEN")
local body = os.getenv("BENCH_BODY")
local run = os.getenv("BENCH_RUN") or "0"

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

wrk.method = method
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if body and body ~= "" then
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = body
end

if body and string.find(body, "{n}", 1, true) then
  local counter = 0
  function request()
    counter = counter + 1
    local name = "bench-" .. run .. "-" .. thread_number .. "-" .. counter
    return wrk.format(nil, nil, nil, (string.gsub(body, "{n}", name)))
  end
end
