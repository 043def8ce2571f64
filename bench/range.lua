-- range.lua: wrk script for bench/compare.sh. Every request is a GET of a random object from the
-- list with "Range: bytes=a-b" of exactly RANGE bytes at a random offset that is a multiple of
-- RANGE, like cachebox-bench does, so the two load generators ask the same of the server.
--
--   wrk -t1 -c16 -d10s --latency -s bench/range.lua http://127.0.0.1:18080 -- \
--       RANGE SIZE:PATH [SIZE:PATH ...]
--
-- RANGE and SIZE are in bytes; SIZE is the object's length (a multiple of RANGE is not needed:
-- only whole ranges are asked for). The URL given to wrk only names the server; its path is
-- ignored. wrk does not check statuses below 400 nor lengths without a response() callback, which
-- would make it buffer every body: compare.sh instead checks that bytes read per request are the
-- range plus a plausible head size. done() prints one machine-readable line:
--
--   WRK_CSV,requests,bytes_read,duration_us,p50_us,p99_us,max_us,
--           err_connect,err_read,err_write,err_status,err_timeout

local range
local objects = {}

function setup(thread)
	-- distinct random streams per thread
	thread:set("seed", os.time() + math.random(1, 1000000))
end

function init(args)
	range = tonumber(args[1])
	if not range or range < 1 then
		error("range.lua: first argument must be the range size in bytes")
	end
	for i = 2, #args do
		local size, path = string.match(args[i], "^(%d+):(/.*)$")
		size = tonumber(size)
		if not size or size < range then
			error("range.lua: want SIZE:PATH with SIZE >= range, got '" ..
				args[i] .. "'")
		end
		objects[#objects + 1] = { path = path, nranges = math.floor(size / range) }
	end
	if #objects == 0 then
		error("range.lua: no SIZE:PATH arguments")
	end
	math.randomseed(tonumber(seed) or os.time())
end

function request()
	local o = objects[math.random(1, #objects)]
	local first = (math.random(1, o.nranges) - 1) * range
	-- %.0f keeps offsets above 2^31 exact (Lua numbers are doubles, exact to 2^53)
	local hdr = { Range = string.format("bytes=%.0f-%.0f", first, first + range - 1) }
	return wrk.format("GET", o.path, hdr)
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("WRK_CSV,%d,%d,%d,%.1f,%.1f,%.1f,%d,%d,%d,%d,%d\n",
		summary.requests, summary.bytes, summary.duration,
		latency:percentile(50), latency:percentile(99), latency.max,
		e.connect, e.read, e.write, e.status, e.timeout))
end
