-- tests/cluster/hosts.lua: a wrk script of make bench (SCRIPT: refresh.lua
-- or get.lua of tests/bench) spread over several web hosts. HOSTS holds
-- their addresses ("10.231.X.11:8080 10.231.X.12:8080 ..."); thread i
-- talks to host (i - 1) mod #HOSTS, so run as many threads as a multiple
-- of the hosts. Everything else (the summary line, the refresh chains)
-- is the script's own.
dofile(os.getenv("BENCH_LUA") .. "/" .. os.getenv("SCRIPT"))

local addrs = {}
for hp in os.getenv("HOSTS"):gmatch("%S+") do
   local host, port = hp:match("^(.+):(%d+)$")
   addrs[#addrs + 1] = wrk.lookup(host, port)[1]
end

local script_setup = setup
function setup(thread)
   script_setup(thread)
   thread.addr = addrs[(#threads - 1) % #addrs + 1]
end
