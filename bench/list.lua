-- GET the 100 tokens of user 1 with the session cookie given after `--`.
local cookie

function init(args)
  cookie = "tessera_session=" .. args[1]
end

function request()
  return wrk.format("GET", "/api/v1/users/1/api-tokens", { ["Cookie"] = cookie })
end
