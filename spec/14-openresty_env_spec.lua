-- The OpenResty `env` pitfall, in a real nginx: FEATUREBASE_API_KEY exported in the environment that
-- starts nginx is invisible to Lua in its workers unless nginx.conf names it with `env`, and the
-- message for the missing key (featurebase.env.missing) then says to add that directive. With the
-- directive the key is visible; outside nginx the message does not mention nginx.
local cjson = require("cjson")
local socket = require("socket")
local testing = require("featurebase.testing")
local fbenv = require("featurebase.env")
local H = require("spec.helpers")

local function sh(cmd)
  local a, _, c = os.execute(cmd)
  if type(a) == "number" then return a == 0 end
  return a == true and (c == nil or c == 0)
end

local function get(port, path)
  local c = socket.tcp()
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  assert(c:send("GET " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"))
  local resp, err, partial = c:receive("*a")
  c:close()
  resp = resp or partial
  assert(resp and resp ~= "", "no answer: " .. tostring(err))
  return tonumber(resp:match("^HTTP/%d%.%d (%d+)")), resp:match("\r\n\r\n(.*)$")
end

local APP = [[
    location = /env { content_by_lua_block {
      local env = require("featurebase.env")
      ngx.print(require("cjson").encode({ in_nginx = env.in_nginx(),
        visible = env.get("FEATUREBASE_API_KEY") == "sk_test_exported_to_nginx",
        message = env.missing("FEATUREBASE_API_KEY", "api_key") }))
    } }
]]

describe("FEATUREBASE_API_KEY and nginx's env directive", function()
  local dir, plain, declared

  setup(function()
    dir = assert(io.popen("mktemp -d")):read("*l")
    -- nginx started with the key in its environment, as `FEATUREBASE_API_KEY=... nginx` would
    local wrapper = dir .. "/nginx"
    local f = assert(io.open(wrapper, "w"))
    f:write('#!/bin/sh\nFEATUREBASE_API_KEY=sk_test_exported_to_nginx exec /usr/sbin/nginx "$@"\n')
    f:close()
    assert(sh("chmod +x '" .. wrapper .. "'"))
    plain = testing.start({ api_key = H.KEY, nginx = wrapper, server = APP })
    declared = testing.start({ api_key = H.KEY, nginx = wrapper, server = APP, main = "env FEATUREBASE_API_KEY;" })
  end)

  teardown(function()
    if plain then plain:stop() end
    if declared then declared:stop() end
    if dir then os.execute("rm -rf '" .. dir .. "'") end
  end)

  it("without `env FEATUREBASE_API_KEY;` the key is hidden, and the message says to add that line", function()
    local status, body = get(plain.port, "/env")
    assert.are.equal(200, status, body)
    local r = cjson.decode(body)
    assert.is_true(r.in_nginx)
    assert.is_false(r.visible)
    assert.truthy(r.message:find("^is required: pass api_key or set FEATUREBASE_API_KEY"), r.message)
    assert.truthy(r.message:find("add `env FEATUREBASE_API_KEY;` to nginx.conf", 1, true), r.message)
  end)

  it("with `env FEATUREBASE_API_KEY;` in the main context the key is visible", function()
    local status, body = get(declared.port, "/env")
    assert.are.equal(200, status, body)
    assert.is_true(cjson.decode(body).visible)
  end)

  it("outside nginx the message does not mention nginx", function()
    assert.is_false(fbenv.in_nginx())
    assert.are.equal("is required: pass api_key or set FEATUREBASE_API_KEY",
      fbenv.missing("FEATUREBASE_API_KEY", "api_key"))
  end)
end)
