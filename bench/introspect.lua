-- POST /api/v1/oauth/introspect (RFC 7662) for a random valid token, as the
-- bench resource server (HTTP Basic). Requests are formatted once in init,
-- as in status.lua.
local requests = {}
local basic = "Basic Q1hCZW5jaDpiZW5jaC1yZXNvdXJjZS1zZXJ2ZXItc2VjcmV0"

function init(args)
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("POST", "/api/v1/oauth/introspect", {
      ["Authorization"] = basic,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, "token=" .. line)
  end
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  return requests[math.random(#requests)]
end
