-- GET /api/v1/status with a random valid Bearer token from the file given
-- after `--` (one token per line).
local tokens = {}

function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", "/api/v1/status", { ["Authorization"] = "Bearer " .. token })
end
