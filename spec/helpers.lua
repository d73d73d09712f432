-- Shared by the specs: ids, a valid request of each kind to vary, and the fake server.
local testing = require("featurebase.testing")

local H = {}

H.ADMIN = "507f1f77bcf86cd799439011"
H.CONTACT = "676f0f6765bdaa7d7d760f88"
H.KEY = "sk_test_0123456789abcdef"

-- Deep copy, so each case can change one thing.
function H.copy(t)
  if type(t) ~= "table" then return t end
  local r = {}
  for k, v in pairs(t) do r[k] = H.copy(v) end
  return r
end

function H.contact_create()
  return { from = { type = "contact", id = H.CONTACT }, bodyMarkdown = "Hello, I have a question." }
end

function H.admin_email()
  return {
    from = { type = "admin", id = H.ADMIN },
    bodyMarkdown = "Hi! Just following up.",
    channel = "email",
    subject = "Following up",
    recipients = { to = { emails = { "john@example.com" } }, cc = { emails = { "manager@example.com" } } },
  }
end

function H.admin_reply()
  return { type = "admin", id = H.ADMIN, bodyMarkdown = "Happy to help.", messageType = "reply" }
end

function H.contact_reply()
  return { type = "contact", userId = "user_123", bodyMarkdown = "Thanks!", messageType = "reply" }
end

-- core.encode for one endpoint, as path, body | nil, err (what the validation specs compare).
function H.encode(name, params, ...)
  local core = require("featurebase.core")
  local method, path, body = core.encode(name, params, nil, ...)
  if not method then return nil, path end
  return path, body
end
function H.encode_create(params) return H.encode("create_conversation", params) end
function H.encode_reply(id, params) return H.encode("reply", params, id) end

-- Polls fn every 5 ms until it returns a true value (returned), failing after timeout seconds (5).
function H.eventually(what, fn, timeout)
  local socket = require("socket")
  local deadline = socket.gettime() + (timeout or 5)
  while true do
    local v = fn()
    if v then return v end
    assert(socket.gettime() < deadline, "timed out waiting for " .. what)
    socket.sleep(0.005)
  end
end

-- Starts the fake Featurebase server (a real nginx on 127.0.0.1) once per spec file.
function H.server()
  local srv = testing.start({ api_key = H.KEY })
  return srv
end

function H.client(srv, opts)
  local featurebase = require("featurebase")
  local o = { api_key = H.KEY, base_url = srv.url }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(featurebase.new(o))
end

-- The interpreter running this spec, to run a child Lua with another environment.
function H.lua_bin()
  if jit then return "luajit" end
  return "lua" .. _VERSION:match("%d+%.%d+")
end

-- Runs a Lua snippet in a child interpreter with env assignments ("A=b B=c"); returns its stdout.
function H.run_lua(env, code)
  local cmd = ("env %s LUA_PATH=%q LUA_CPATH=%q %s -e %q 2>&1"):format(env, package.path, package.cpath, H.lua_bin(), code)
  local f = assert(io.popen(cmd))
  local out = f:read("*a")
  f:close()
  return out
end

return H
