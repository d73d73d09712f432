--- featurebase.core_loader: loads featurebase.core, the C part of featurebase, and when that fails
-- because it is not built for the running Lua (missing, or built for another Lua), raises an error
-- that says how to build it.
--
-- @module featurebase.core_loader
local M = {}

--- The running Lua: its name, its folder under build/ and its LuaRocks `--lua-version`.
---@return string name e.g. "LuaJIT 2.1.0-beta3" or "Lua 5.4"
---@return string build e.g. "luajit" or "lua5.4"
---@return string abi e.g. "5.1" or "5.4"
function M.runtime()
  if jit then return jit.version, "luajit", "5.1" end
  local v = _VERSION:match("%d+%.%d+")
  return _VERSION, "lua" .. v, v
end

--- The message to raise for what `require("featurebase.core")` raised: how to build the core for
-- this Lua when it was not found or could not be linked in; any other error (lua-cjson missing,
-- say) unchanged.
---@param err any what require raised
---@return string message
function M.explain(err)
  err = tostring(err)
  local name, build, abi = M.runtime()
  local what
  if err:find("module 'featurebase.core' not found", 1, true) then
    what = "featurebase.core (the C part of featurebase) is not built for " .. name
  elseif err:find("error loading module 'featurebase.core'", 1, true)
    or err:find("featurebase[/\\]core%.%w+: ") then -- Neovim's loader gives only the dynamic linker's reason
    what = "featurebase.core was found but " .. name .. " cannot load it: it was built for another Lua"
  else
    return err
  end
  return ("%s. Build it for %s: `make build/%s/featurebase/core.so` in a featurebase-lua checkout, with "
    .. "build/%s/?.so on package.cpath (a Neovim plugin ships it as lua/featurebase/core.so), or "
    .. "`luarocks --lua-version=%s install featurebase`.\n%s"):format(what, name, build, build, abi, err)
end

--- Returns featurebase.core, or raises the error of `explain`.
---@return table core
function M.load()
  local ok, core = pcall(require, "featurebase.core")
  if not ok then error(M.explain(core), 0) end
  return core
end

return M
