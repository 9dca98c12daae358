-- Requests carrying a random valid token from the file given after `--`
-- (one token per line). The optional second argument picks the request:
--   (none)      GET /api/v1/status with the token as Bearer
--   /healthz    the very same requests sent to /healthz, so the stack's
--               ceiling is measured with requests of the same shape from
--               the same generator
--   introspect  POST /api/v1/oauth/introspect (RFC 7662) for the token, as
--               the bench resource server (HTTP Basic)
--
-- Requests are formatted once in init: formatting per request costs wrk
-- more CPU than the service spends answering a cached verification.
local requests = {}
local basic = "Basic Q1hCZW5jaDpiZW5jaC1yZXNvdXJjZS1zZXJ2ZXItc2VjcmV0"

local function format(mode, token)
  if mode == "introspect" then
    return wrk.format("POST", "/api/v1/oauth/introspect", {
      ["Authorization"] = basic,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, "token=" .. token)
  end
  return wrk.format("GET", mode or "/api/v1/status", { ["Authorization"] = "Bearer " .. token })
end

function init(args)
  for line in io.lines(args[1]) do
    requests[#requests + 1] = format(args[2], line)
  end
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  return requests[math.random(#requests)]
end
