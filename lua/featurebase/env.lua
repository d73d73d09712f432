--- featurebase.env: the FEATUREBASE_* environment variables, read the same way by every transport,
-- and what to say when a required one is missing. Inside nginx, Lua sees only the variables named
-- by an `env` directive in nginx.conf's main context: nginx removes every other one from its
-- workers' environment, so a key exported in the shell that starts nginx is not visible.
--
-- @module featurebase.env
local M = {}

--- True when running inside nginx (OpenResty, lua-nginx-module).
---@return boolean
function M.in_nginx()
  local n = rawget(_G, "ngx")
  return type(n) == "table" and type(n.config) == "table" and n.config.subsystem ~= nil
end

--- The variable's value, or nil when it is unset or empty.
---@param name string e.g. "FEATUREBASE_API_KEY"
---@return string|nil
function M.get(name)
  local v = os.getenv(name)
  if v ~= nil and v ~= "" then return v end
  return nil
end

--- The message for a required setting that is neither passed as `option` nor set as the variable
-- `name`; inside nginx it also says to add the `env` directive.
---@param name string the variable, e.g. "FEATUREBASE_API_KEY"
---@param option string the option that can be passed instead, e.g. "api_key"
---@return string message e.g. "is required: pass api_key or set FEATUREBASE_API_KEY"
function M.missing(name, option)
  local msg = ("is required: pass %s or set %s"):format(option, name)
  if M.in_nginx() then
    msg = msg .. (" (inside nginx, also add `env %s;` to nginx.conf, in the main context: nginx hides every "
      .. "variable it is not told to keep)"):format(name)
  end
  return msg
end

return M
