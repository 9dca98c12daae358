-- GET /api/v1/status with a random valid Bearer token from the file given
-- after `--` (one token per line). An optional second argument sends the
-- same requests to another path (/healthz), so the stack's ceiling can be
-- measured with requests of the same shape from the same generator.
--
-- Requests are formatted once in init: formatting per request costs wrk
-- more CPU than the service spends answering a cached verification.
local requests = {}

function init(args)
  local path = args[2] or "/api/v1/status"
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. line })
  end
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  return requests[math.random(#requests)]
end
