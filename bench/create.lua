-- POST to the URL's path (…/api-tokens/create) with a token's JSON body;
-- the session cookie comes as a `-H` header.
wrk.method = "POST"
wrk.body = '{"identifier":"bench","permissions":["submit_score"]}'
wrk.headers["Content-Type"] = "application/json"
