-- Shipping featurebase inside a Neovim plugin, the ways the README gives: the lazy.nvim build step
-- (`make nvim` in the plugin's clone) and the plain copy of lua/ plus the LuaJIT core.so. A headless
-- Neovim (Debian's 0.7.2) with no LUA_PATH/LUA_CPATH and the plugin directory on 'runtimepath'
-- loads it and makes one call. Then the core missing, or built for another Lua: the error says how
-- to build it, in Neovim and in the interpreter running this spec.
-- (rocks.nvim installs the rock with LuaRocks: scripts/check-rockspec.sh covers that path.)
local H = require("spec.helpers")

local ROOT = assert(io.popen("pwd")):read("*l")

local function sh(cmd)
  local a, _, c = os.execute(cmd)
  if type(a) == "number" then return a == 0 end
  return a == true and (c == nil or c == 0)
end

local function capture(cmd)
  local f = assert(io.popen(cmd))
  local s = f:read("*a")
  f:close()
  return s
end

-- The build another Lua would load: never loadable by the one running here (LuaJIT's build does
-- load into Lua 5.1, the same ABI, so 5.1 gets 5.4's).
local OTHER = (not jit and _VERSION == "Lua 5.4") and "luajit" or "lua5.4"

-- Runs spec/nvim/plugin_install.lua in headless Neovim with dir on 'runtimepath' and nothing in
-- LUA_PATH/LUA_CPATH, from an empty folder; returns {key = value}, the raw output and the exit status.
local function nvim(dir, env)
  local out = os.tmpname()
  local vars = {}
  for k, v in pairs(env or {}) do vars[#vars + 1] = ("%s=%q"):format(k, v) end
  local ok = sh(("cd %q && env -u LUA_PATH -u LUA_CPATH -u LUA_INIT %s timeout 60 nvim --headless -u NONE -i NONE -n "
    .. "--cmd %q -c %q >%s 2>&1"):format(dir, table.concat(vars, " "), "set rtp+=" .. dir,
    "luafile " .. ROOT .. "/spec/nvim/plugin_install.lua", out))
  local f = assert(io.open(out))
  local text = f:read("*a")
  f:close()
  os.remove(out)
  local kv = {}
  for k, v in ("\n" .. text):gmatch("\n([%w_]+)=([^\n]*)") do kv[k] = v end
  return kv, text, ok
end

describe("a Neovim plugin that ships featurebase", function()
  local srv, tmp

  setup(function()
    assert(sh("make -s --no-print-directory build/luajit/featurebase/core.so build/" .. OTHER
      .. "/featurebase/core.so >/dev/null"))
    srv = H.server()
    tmp = capture("mktemp -d"):gsub("%s+$", "")
  end)
  teardown(function()
    if srv then srv:stop() end
    if tmp then sh("rm -rf '" .. tmp .. "'") end
  end)

  -- A plugin directory holding the lua/ tree, and core.so copied from build/<so>/ unless so is nil.
  local function plugin(name, so)
    local dir = tmp .. "/" .. name
    assert(sh(("mkdir -p %q && cp -R %q/lua %q/"):format(dir, ROOT, dir)))
    os.remove(dir .. "/lua/featurebase/core.so") -- a `make nvim` in the checkout must not leak in
    if so then assert(sh(("cp %q/build/%s/featurebase/core.so %q/lua/featurebase/core.so"):format(ROOT, so, dir))) end
    return dir
  end

  local function loads_and_calls(dir)
    srv:reset()
    local r, text, ok = nvim(dir, { FB_KEY = H.KEY, FB_URL = srv.url })
    assert.is_true(ok, text)
    assert.is_nil(r.error, text)
    assert.are.equal("unset", r.lua_path, text)
    assert.are.equal("unset", r.lua_cpath, text)
    assert.are.equal("true", r.loaded, text)
    assert.are.equal(require("featurebase")._VERSION, r.version, text)
    assert.are.equal(dir .. "/lua/featurebase.lua", r.source, text)
    assert.are.equal(dir .. "/lua/featurebase/core.so", r.core, text)
    assert.are.equal("none", r.on_cpath, text)
    assert.are.equal("conversation", r.conversation, text)
    assert.are.equal(1, #srv:requests())
  end

  it("the copy of lua/ and the LuaJIT core.so: loads from the plugin directory and makes a call", function()
    loads_and_calls(plugin("copied", "luajit"))
  end)

  it("lazy.nvim's build step `make nvim` in the plugin's clone: the same", function()
    local dir = plugin("lazy")
    assert(sh(("cp -R %q/Makefile %q/src %q/ && cd %q && make -s nvim >/dev/null"):format(ROOT, ROOT, dir, dir)))
    loads_and_calls(dir)
  end)

  it("without core.so: the error says it is not built for LuaJIT and how to build it", function()
    local r, text = nvim(plugin("missing"))
    assert.are.equal("false", r.loaded, text)
    assert.truthy(r.load_error:find("featurebase.core (the C part of featurebase) is not built for LuaJIT", 1, true), text)
    assert.truthy(r.load_error:find("`make build/luajit/featurebase/core.so`", 1, true), text)
    assert.truthy(r.load_error:find("`luarocks --lua-version=5.1 install featurebase`", 1, true), text)
  end)

  it("with a core.so built for Lua 5.4: the error says so and how to build it for LuaJIT", function()
    local r, text = nvim(plugin("wrong", "lua5.4"))
    assert.are.equal("false", r.loaded, text)
    assert.truthy(r.load_error:find("LuaJIT [^ ]+ cannot load it: it was built for another Lua"), text)
    assert.truthy(r.load_error:find("`make build/luajit/featurebase/core.so`", 1, true), text)
    assert.truthy(r.load_error:find("undefined symbol", 1, true), text) -- the loader's own reason follows
  end)
end)

describe("require('featurebase') when featurebase.core cannot load", function()
  local _, build, abi = require("featurebase.core_loader").runtime()

  -- require("featurebase") in a child of this interpreter with LUA_CPATH = cpath (";;" left out)
  local function child(cpath)
    return H.run_lua("", ([[
      package.cpath = %q
      local ok, err = pcall(require, "featurebase")
      io.write(tostring(ok), "\n", tostring(err))]]):format(cpath))
  end

  it("missing: names this Lua, the make target and the luarocks command", function()
    local out = child(ROOT .. "/build/nowhere/?.so")
    assert.truthy(out:find("^false\n"), out)
    assert.truthy(out:find("is not built for " .. (jit and "LuaJIT" or _VERSION), 1, true), out)
    assert.truthy(out:find("`make build/" .. build .. "/featurebase/core.so`", 1, true), out)
    assert.truthy(out:find("`luarocks --lua-version=" .. abi .. " install featurebase`", 1, true), out)
    assert.truthy(out:find("module 'featurebase.core' not found", 1, true), out) -- the paths tried follow
  end)

  it("built for " .. OTHER .. ": says it was built for another Lua, and how to build it for this one", function()
    local out = child(ROOT .. "/build/" .. OTHER .. "/?.so;" .. package.cpath)
    assert.truthy(out:find("^false\n"), out)
    assert.truthy(out:find("cannot load it: it was built for another Lua", 1, true), out)
    assert.truthy(out:find("`make build/" .. build .. "/featurebase/core.so`", 1, true), out)
    assert.truthy(out:find("build/" .. OTHER .. "/featurebase/core.so", 1, true), out) -- which file it tried
  end)

  it("other load errors pass through unchanged: lua-cjson missing is not a build problem", function()
    local out = H.run_lua("", ([[
      package.preload.cjson = function() error("no cjson here") end
      package.cpath = %q
      local ok, err = pcall(require, "featurebase")
      io.write(tostring(ok), "\n", tostring(err))]]):format(ROOT .. "/build/" .. H.lua_bin() .. "/?.so"))
    assert.truthy(out:find("^false\n"), out)
    assert.truthy(out:find("featurebase.core needs lua-cjson", 1, true), out)
    assert.falsy(out:find("make build/", 1, true), out)
  end)
end)
