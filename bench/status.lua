-- Requests to the URL's path carrying a random valid token from the file
-- given after `--` (one token per line):
--   GET with the token as Bearer (status; /healthz for the stack's ceiling,
--   with requests of the same shape from the same generator), or, when an
--   `Authorization` value follows the file, POST `token=…` with it
--   (introspection as a resource server, RFC 7662), or, when `POST`
--   follows the file, POST with the token as Bearer (the relying service's
--   protected route).
--
-- Requests are formatted once in init: formatting per request costs wrk
-- more CPU than the service spends answering a cached verification.
local requests = {}

local function format(token, authorization)
  if authorization == "POST" then
    return wrk.format("POST", nil, { ["Authorization"] = "Bearer " .. token })
  end
  if authorization then
    return wrk.format("POST", nil, {
      ["Authorization"] = authorization,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, "token=" .. token)
  end
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
end

function init(args)
  for line in io.lines(args[1]) do
    requests[#requests + 1] = format(line, args[2])
  end
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  return requests[math.random(#requests)]
end
