-- POST …/api-tokens/create with the session cookie given after `--`.
local cookie

function init(args)
  cookie = "tessera_session=" .. args[1]
end

function request()
  return wrk.format("POST", "/api/v1/users/2/api-tokens/create", {
    ["Cookie"] = cookie,
    ["Content-Type"] = "application/json",
  }, '{"identifier":"bench","permissions":["submit_score"]}')
end
