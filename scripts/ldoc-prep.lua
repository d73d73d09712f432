-- LDoc does not read LuaLS annotations, so `make docs` feeds it a copy of the sources where
--   ---@param name type desc  ->  -- @tparam type name desc
--   ---@return type desc      ->  -- @treturn type desc
-- ---@class/---@field blocks become LDoc tables (@table with @field lines), and a ---@alias with
-- ---| lines (a union such as featurebase.ConversationPart) a table whose text lists its members.
-- A type with spaces in it (fun(a: T): R, {k: T}, table<K, V>) goes to LDoc as function or table,
-- the whole LuaLS type leading the description. `---@meta` files (lua/featurebase/types/) too.
--   lua5.4 scripts/ldoc-prep.lua OUT_DIR file.lua...
local out_dir = assert(arg[1], "usage: ldoc-prep.lua OUT_DIR FILE...")
local split_type = dofile((arg[0]:match("^(.*)/") or ".") .. "/luals-type.lua")

-- The LDoc type and description for a LuaLS type and its description.
local function ldoc_type(ty, desc)
  if not ty:find("%s") then return ty, desc end
  local simple = ty:find("^fun") and "function" or (ty:find("^{") or ty:find("^table<")) and "table" or "any"
  return simple, "`" .. ty .. "`" .. (desc ~= "" and " " .. desc or "")
end

local function convert(src)
  local out = {}
  local in_class, alias = false, nil
  local function end_alias()
    if alias then
      out[#out + 1] = alias.indent .. ("--- %s (type): one of %s.")
        :format(alias.name, table.concat(alias.members, ", "))
      out[#out + 1] = alias.indent .. "-- @table " .. alias.name
      out[#out + 1] = ""
      alias = nil
    end
  end
  for line in (src .. "\n"):gmatch("(.-)\n") do
    local indent, tag, rest = line:match("^(%s*)%-%-%-@(%w+)%s*(.*)$")
    local member = line:match("^%s*%-%-%-|%s*(.*)$")
    if member then
      if alias then alias.members[#alias.members + 1] = (split_type(member)) end
    else
      end_alias()
    end
    if member then -- luacheck: ignore 542
      -- collected above
    elseif tag == "class" then
      local name, desc = rest:match("^([%w_%.]+)%s*(.*)$")
      local parent = desc:match("^:%s*([%w_%.]+)") or ""
      if parent ~= "" then desc = desc:gsub("^:%s*[%w_%.]+%s*", "") end
      out[#out + 1] = indent .. "--- " .. name .. " (type" .. (parent ~= "" and ", extends " .. parent or "") .. ")."
        .. (desc ~= "" and " " .. desc or "")
      out[#out + 1] = indent .. "-- @table " .. name
      in_class = true
    elseif tag == "alias" then
      local name, after = rest:match("^([%w_%.]+)%s*(.*)$")
      if after == "" then
        alias = { indent = indent, name = name, members = {}, desc = "" }
      end
    elseif tag == "field" then
      local name, opt, after = rest:match("^([%w_]+)(%??)%s+(.*)$")
      if name then
        local ty, desc = ldoc_type(split_type(after))
        out[#out + 1] = indent .. ("-- @field %s %s%s %s"):format(name, ty, opt ~= "" and " (optional)" or "", desc)
      end
    elseif tag == "param" then
      local name, opt, after = rest:match("^([%w_%.]+)(%??)%s+(.*)$")
      if name then
        local ty, desc = ldoc_type(split_type(after))
        out[#out + 1] = indent .. ("-- @tparam%s %s %s %s"):format(opt ~= "" and "[opt]" or "", ty, name, desc)
      end
    elseif tag == "return" then
      local ty, desc = ldoc_type(split_type(rest))
      out[#out + 1] = indent .. ("-- @treturn %s %s"):format(ty ~= "" and ty or "any", desc)
    elseif tag then -- luacheck: ignore 542
      -- other LuaLS tags (---@type, ---@meta, ...) carry nothing for the reference
    else
      if in_class and not line:find("^%s*%-%-") then
        out[#out + 1] = ""
        in_class = false
      end
      out[#out + 1] = line
    end
  end
  end_alias()
  -- LDoc reads every `---` as a doc comment: one at the end of a code line, or over a statement
  -- (a loop that makes methods), is a plain comment for it.
  for i, l in ipairs(out) do
    if not l:find("^%s*%-%-") then out[i] = l:gsub("%s*%-%-%-@.*$", "") end
  end
  for i, l in ipairs(out) do
    if l:find("^%s*%-%-%-") then
      local j = i + 1
      while out[j] and out[j]:find("^%s*%-%-") do j = j + 1 end
      if out[j] and (out[j]:find("^%s*for%s") or out[j]:find("^%s*if%s") or out[j]:find("^%s*while%s")) then
        out[i] = l:gsub("^(%s*)%-%-%-", "%1--")
      end
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
