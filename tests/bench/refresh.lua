-- wrk script: real rotations, one chain per connection. The file named by
-- TOKENS holds refresh tokens, one per line, each the start of its own
-- session's chain (from real logins). Run with as many threads as
-- connections (-t N -c N): a thread's requests and responses then
-- alternate, and thread i rotates line i's chain, each answer's successor
-- replacing the token it was sent for. A refusal keeps the old token (it
-- is counted, and the chain's next request is refused too).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

function init(args)
   token = thread_token()
end

function request()
   return refresh_request(token)
end

function response(status, headers, body)
   count_status(status)
   token = refresh_next(token, status, body)
end
