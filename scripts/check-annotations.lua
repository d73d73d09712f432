-- Checks the LuaLS annotations of the public API (no language server is packaged for Debian):
-- every public function in lua/ (on M or on a ---@class table) has a doc comment with a ---@param for each parameter
-- and a ---@return when it returns a value, every ---@ line is a well-formed tag, and every featurebase.* type an
-- annotation uses is defined (---@class or ---@alias) in one of the files: the hand-written and generated definition
-- files (lua/featurebase/types/) included, so a class moved or renamed cannot leave a dangling name behind.
--   lua5.4 scripts/check-annotations.lua lua/featurebase.lua $(find lua/featurebase -name '*.lua')
local split_type = dofile((arg[0]:match("^(.*)/") or ".") .. "/luals-type.lua")
local TAGS = { class = "^%S+", field = "^%S+%??%s+%S", param = "^[%w_%.]+%??%s+%S", ["return"] = "^%S",
  alias = "^%S+", type = "^%S", module = "^%S", diagnostic = "^%S", cast = "^%S", generic = "^%S",
  overload = "^fun", see = "^%S", deprecated = "", async = "", nodiscard = "", meta = "", enum = "^%S" }

local problems = 0
local defined, used = {}, {} -- type name -> true; {file, line, name} of each use
local function problem(file, line, msg)
  problems = problems + 1
  io.stderr:write(("%s:%d: %s\n"):format(file, line, msg))
end

local function check(file)
  local lines = {}
  for l in io.lines(file) do lines[#lines + 1] = l end
  local checked = 0
  -- Public receivers: the module table M, and tables declared right under a ---@class line
  -- (internal helper objects without one are not API).
  local public = { M = true }
  for i = 2, #lines do
    local t = lines[i]:match("^local%s+([%w_]+)%s*=")
    if t and lines[i - 1]:find("^%-%-%-@class") then public[t] = true end
  end
  for i, l in ipairs(lines) do
    local tag, rest = l:match("^%s*%-%-%-@(%w+)%s*(.*)$")
    if tag then
      if not TAGS[tag] then problem(file, i, "unknown annotation ---@" .. tag)
      elseif not rest:find(TAGS[tag]) then problem(file, i, "malformed ---@" .. tag .. " " .. rest) end
      -- the type part of the line (not its description)
      local ty
      if tag == "class" or tag == "alias" then
        local name, after = rest:match("^([%w_%.]+)%s*(.*)$")
        if name then defined[name] = true end
        ty = tag == "class" and (after or ""):match("^:%s*(%S+)") or tag == "alias" and split_type(after or "")
      elseif tag == "param" or tag == "field" then
        ty = split_type(rest:gsub("^[%w_%.]+%??%s+", "", 1))
      elseif tag == "return" or tag == "type" then
        ty = split_type(rest)
      end
      for name in (ty or ""):gmatch("featurebase%.[%w_%.]*[%w_]") do used[#used + 1] = { file, i, name } end
    end
    local alt = l:match("^%s*%-%-%-|%s*(.*)$") -- a ---@alias's lines: ---| type
    for name in (alt and split_type(alt) or ""):gmatch("featurebase%.[%w_%.]*[%w_]") do
      used[#used + 1] = { file, i, name }
    end
    -- top-level public functions: function M.x(...), function Client:x(...), function M.sub.x(...)
    local name, params = l:match("^function%s+([%w_%.:]+)%s*(%b())")
    local short = name and name:match("[%.:]([%w_]+)$")
    if short and not short:find("^_") and public[name:match("^([%w_]+)[%.:]") or ""] then
      checked = checked + 1
      local doc, j = {}, i - 1
      while j > 0 and lines[j]:find("^%s*%-%-") do doc[#doc + 1] = lines[j]; j = j - 1 end
      local text = table.concat(doc, "\n")
      if #doc == 0 then
        problem(file, i, name .. " has no doc comment")
      else
        for p in params:sub(2, -2):gmatch("[%w_%.]+") do
          if p ~= "self" and p ~= "..." and not text:find("%-%-%-@param%s+" .. p .. "%??%s") then
            problem(file, i, name .. ": no ---@param for '" .. p .. "'")
          end
        end
        -- the function's own lines, without those of functions nested in it (none for a one-line stub)
        local body, k, nested = {}, i + 1, nil
        if l:find("%f[%w]end%s*$") then k = #lines + 1 end
        while lines[k] and not lines[k]:find("^end") do
          local ln = lines[k]
          if nested then
            if ln:find("^" .. nested .. "end") then nested = nil end
          elseif ln:find("function%s*[%w_%.:]*%s*%(") and not ln:find("%f[%w]end%s*%)?,?%s*$") then
            nested = ln:match("^(%s*)")
          elseif not ln:find("^%s*%-%-") then
            body[#body + 1] = ln:gsub("function%s*%b()(.-)%f[%w]end", "") -- one-line closures too
          end
          k = k + 1
        end
        local returns = table.concat(body, "\n"):find("%f[%w]return%s+[^e%s]") ~= nil
        if returns and not text:find("%-%-%-@return") then
          problem(file, i, name .. " returns a value but has no ---@return")
        end
      end
    end
  end
  return checked
end

local total = 0
for _, f in ipairs(arg) do total = total + check(f) end
for _, u in ipairs(used) do
  if not defined[u[3]] then problem(u[1], u[2], "type " .. u[3] .. " is not defined by any ---@class or ---@alias") end
end
if problems > 0 then
  io.stderr:write(("%d annotation problem(s)\n"):format(problems))
  os.exit(1)
end
local ntypes = 0
for _ in pairs(defined) do ntypes = ntypes + 1 end
print(("annotations: %d public functions in %d files documented; %d type uses, all of %d defined types")
  :format(total, #arg, #used, ntypes))
