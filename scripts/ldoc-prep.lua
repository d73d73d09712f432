-- LDoc does not read LuaLS annotations, so `make docs` feeds it a copy of the sources where
--   ---@param name type desc  ->  -- @tparam type name desc
--   ---@return type desc      ->  -- @treturn type desc
-- and ---@class/---@field blocks become LDoc tables (@table with @field lines).
--   lua5.4 scripts/ldoc-prep.lua OUT_DIR file.lua...
local out_dir = assert(arg[1], "usage: ldoc-prep.lua OUT_DIR FILE...")

local function convert(src)
  local out = {}
  local in_class = false
  for line in (src .. "\n"):gmatch("(.-)\n") do
    local indent, tag, rest = line:match("^(%s*)%-%-%-@(%w+)%s*(.*)$")
    if tag == "class" then
      local name = rest:match("^([%w_%.]+)")
      out[#out + 1] = indent .. "--- " .. name .. " (type)."
      out[#out + 1] = indent .. "-- @table " .. name
      in_class = true
    elseif tag == "field" then
      local name, opt, ty, desc = rest:match("^([%w_]+)(%??)%s+(%S+)%s*(.*)$")
      if name then
        out[#out + 1] = indent .. ("-- @field %s %s%s %s"):format(name, ty, opt ~= "" and " (optional)" or "", desc)
      end
    elseif tag == "param" then
      local name, opt, ty, desc = rest:match("^([%w_%.]+)(%??)%s+(%S+)%s*(.*)$")
      if name then
        out[#out + 1] = indent .. ("-- @tparam%s %s %s %s"):format(opt ~= "" and "[opt]" or "", ty, name, desc)
      end
    elseif tag == "return" then
      local ty, desc = rest:match("^(%S+)%s*(.*)$")
      out[#out + 1] = indent .. ("-- @treturn %s %s"):format(ty or "any", desc or "")
    elseif tag then
      -- other LuaLS tags (---@type, ---@alias, ...) carry nothing for the reference
    else
      if in_class and not line:find("^%s*%-%-") then
        out[#out + 1] = ""
        in_class = false
      end
      out[#out + 1] = line
    end
  end
  return table.concat(out, "\n")
end

for i = 2, #arg do
  local f = assert(io.open(arg[i], "rb"))
  local src = f:read("*a")
  f:close()
  local dest = out_dir .. "/" .. arg[i]
  os.execute(("mkdir -p %q"):format(dest:match("^(.*)/")))
  local o = assert(io.open(dest, "wb"))
  o:write(convert(src))
  o:close()
end
