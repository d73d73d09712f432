-- Starts spec/fixtures/misbehave.py (a raw-socket HTTP server that reads a request and then closes,
-- resets, restarts its listener, cuts a 201 body, ...) and reads its receipt counts.
-- Requests script themselves: "mk:<marker>" names the message, "act:a1,a2" the action per receipt.
local M = {}

local function sleep(s)
  os.execute(("sleep %.3f"):format(s))
end

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- Starts the server; returns {url=, dir=, pid=, counts=fn, count=fn(marker), stop=fn}.
function M.start()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  local script = "spec/fixtures/misbehave.py"
  assert(os.execute(("python3 %s %s </dev/null >%s/log 2>&1 &"):format(script, dir, dir)))
  local port
  for _ = 1, 100 do
    port = read(dir .. "/port")
    if port and port ~= "" then break end
    sleep(0.05)
  end
  assert(port, "misbehave.py did not start: " .. tostring(read(dir .. "/log")))
  local srv = { url = "http://127.0.0.1:" .. port, dir = dir, pid = tonumber(read(dir .. "/pid")) }
  function srv.counts()
    local t = {}
    for mk, n in (read(dir .. "/counts") or ""):gmatch("(%S+) (%d+)\n") do t[mk] = tonumber(n) end
    return t
  end
  function srv.count(mk)
    return srv.counts()[mk] or 0
  end
  -- Scripts the actions of a marker's receipts, for requests that cannot carry "act:" themselves.
  function srv.script(mk, acts)
    os.execute("mkdir -p " .. dir .. "/acts")
    local f = assert(io.open(dir .. "/acts/" .. mk, "w"))
    f:write(acts, "\n")
    f:close()
  end
  function srv.stop()
    if srv.pid then os.execute("kill " .. srv.pid .. " 2>/dev/null") end
    srv.pid = nil
    os.execute("rm -rf " .. dir)
  end
  return srv
end

M.sleep = sleep
return M
