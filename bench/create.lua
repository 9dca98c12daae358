-- POST to the URL's path (…/api-tokens/create) with a token's JSON body;
-- the session cookie comes as a `-H` header. With a file after `--` (one
-- `<user> <session cookie>` per line) each request goes to a random one of
-- those users' create endpoints instead: creations of many users, which do
-- not wait for one another as one user's do (each user's audit chain
-- takes its changes one at a time).
wrk.method = "POST"
wrk.body = '{"identifier":"bench","permissions":["submit_score"]}'
wrk.headers["Content-Type"] = "application/json"

local requests = {}

function init(args)
  if not args[1] then
    return
  end
  for line in io.lines(args[1]) do
    local user, cookie = line:match("^(%d+) (%S+)$")
    requests[#requests + 1] = wrk.format("POST", "/api/v1/users/" .. user .. "/api-tokens/create", {
      ["Content-Type"] = "application/json",
      ["Cookie"] = "tessera_session=" .. cookie,
    }, wrk.body)
  end
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  if #requests == 0 then
    return wrk.format()
  end
  return requests[math.random(#requests)]
end
