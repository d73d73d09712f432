-- The type at the start of a LuaLS annotation's text, for scripts/check-annotations.lua and
-- scripts/ldoc-prep.lua: `fun(a: T, b?: U): R|nil desc` -> "fun(a: T, b?: U): R|nil", "desc".
-- A type may hold spaces inside (), {}, <> and quotes, and around `|`, `,` and `:`.
--   local split = dofile("scripts/luals-type.lua"); local ty, desc = split(text)
return function(s)
  local depth, quote, i, n = 0, nil, 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if quote then
      if c == quote then quote = nil end
    elseif c == '"' or c == "'" or c == "`" then
      quote = c
    elseif c:find("[%(%{%<%[]") then
      depth = depth + 1
    elseif c:find("[%)%}%>%]]") then
      depth = depth - 1
    elseif c:find("%s") and depth <= 0 then
      local before = s:sub(1, i - 1):match("(%S)%s*$")
      local after = s:match("^%s*(%S)", i)
      if not (before and before:find("[|,:]") or after == "|") then break end
    end
    i = i + 1
  end
  return s:sub(1, i - 1), (s:sub(i):gsub("^%s+", ""))
end
