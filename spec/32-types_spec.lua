-- The editor types (lua/featurebase/types/: objects.lua by hand, api.lua generated from core.api by
-- scripts/gen-types.lua) and the README's generated API reference: complete for every endpoint and
-- schema, true to the documented objects and to what the fake server answers, and fresh.
local core = require("featurebase.core")
local featurebase = require("featurebase")
local H = require("spec.helpers")

local split_type = dofile("scripts/luals-type.lua")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- The classes and aliases of the definition files: name -> {parent=, fields = {name -> {type=, optional=}}}.
local classes, aliases = {}, {}
local function parse(path)
  local class, alias
  for line in io.lines(path) do
    local tag, rest = line:match("^%-%-%-@(%w+)%s*(.*)$")
    local member = line:match("^%-%-%-|%s*(.*)$")
    if tag == "class" then
      local name, after = rest:match("^([%w_%.]+)%s*(.*)$")
      class = { parent = after:match("^:%s*([%w_%.]+)"), fields = {} }
      classes[name], alias = class, nil
    elseif tag == "alias" then
      local name, after = rest:match("^([%w_%.]+)%s*(.*)$")
      alias = {}
      aliases[name], class = alias, nil
      if after ~= "" then alias[1] = (split_type(after)) end
    elseif tag == "field" and class then
      local name, opt, after = rest:match("^([%w_]+)(%??)%s+(.*)$")
      class.fields[name] = { type = (split_type(after)), optional = opt == "?" }
    elseif member and alias then
      alias[#alias + 1] = (split_type(member))
    elseif not line:find("^%-%-") then
      class, alias = nil, nil
    end
  end
end
parse("lua/featurebase/types/objects.lua")
parse("lua/featurebase/types/api.lua")
local API_TYPES = read("lua/featurebase/types/api.lua")

local function field_of(class_name, key)
  local c = classes[class_name]
  while c do
    if c.fields[key] then return c.fields[key] end
    c = c.parent and classes[c.parent]
  end
end

-- Top-level alternatives of a union type: `a|(b|c)[]|{x: y|z}` -> a, (b|c)[], {x: y|z}.
local function alternatives(ty)
  local out, depth, start = {}, 0, 1
  for i = 1, #ty do
    local c = ty:sub(i, i)
    if c:find("[%(%{%<]") then depth = depth + 1
    elseif c:find("[%)%}%>]") then depth = depth - 1
    elseif c == "|" and depth == 0 then
      out[#out + 1] = ty:sub(start, i - 1)
      start = i + 1
    end
  end
  out[#out + 1] = ty:sub(start)
  return out
end

-- Whether a decoded value fits a LuaLS type of the definition files; why not, with the path.
-- lenient: fields a class requires may be missing (what the fake server leaves out).
local conforms
local lenient = false
local function conforms_class(v, name, path)
  if type(v) ~= "table" then return false, path .. ": a table expected for " .. name end
  for k, x in pairs(v) do
    local f = field_of(name, k)
    if not f then return false, ("%s.%s: not a field of %s"):format(path, tostring(k), name) end
    local ok, why = conforms(x, f.type, path .. "." .. k)
    if not ok then return false, why end
  end
  local c = not lenient and classes[name]
  while c do
    for k, f in pairs(c.fields) do
      local nullable = f.optional or f.type:find("|nil$")
      if v[k] == nil and not nullable then return false, ("%s.%s: required by %s"):format(path, k, name) end
    end
    c = c.parent and classes[c.parent]
  end
  return true
end
function conforms(v, ty, path)
  local whys = {}
  for _, alt in ipairs(alternatives(ty)) do
    local ok, why
    if alt == "nil" then ok = v == nil
    elseif alt == "any" or alt:find("^table<") or alt:find("^{") then ok = true -- not checked deeper
    elseif alt == "string" or alt == "boolean" or alt == "number" or alt == "table" then ok = type(v) == alt
    elseif alt == "integer" then ok = type(v) == "number" and v == math.floor(v)
    elseif alt == "true" then ok = v == true
    elseif alt:find('^"') then ok = v == alt:sub(2, -2)
    elseif alt:find("%[%]$") then
      local item = alt:sub(1, -3):gsub("^%((.*)%)$", "%1")
      ok = type(v) == "table"
      for i, x in ipairs(ok and v or {}) do
        ok, why = conforms(x, item, ("%s[%d]"):format(path, i))
        if not ok then break end
      end
    elseif classes[alt] then ok, why = conforms_class(v, alt, path)
    elseif aliases[alt] then
      -- a union of classes told apart by a literal field (partType): the member the value names
      local members = {}
      for _, m in ipairs(aliases[alt]) do
        local named = type(v) == "table" and classes[m] ~= nil
        for k, f in pairs(classes[m] and classes[m].fields or {}) do
          if f.type:find('^"[^"]*"$') and v[k] ~= f.type:sub(2, -2) then named = false end
        end
        if named then members = { m } break end
        members[#members + 1] = m
      end
      for _, m in ipairs(members) do
        ok, why = conforms(v, m, path)
        if ok then break end
      end
    else
      error(path .. ": the type " .. alt .. " is not defined")
    end
    if ok then return true end
    whys[#whys + 1] = why or ("%s: %s is not %s"):format(path, tostring(v), alt)
  end
  return false, table.concat(whys, "; ")
end

-- Every schema type core.api names, found by walking the endpoints.
local function schema_types()
  local seen, list = {}, {}
  local function walk(s)
    if not s or seen[s.type] then return end
    seen[s.type] = true
    list[#list + 1] = s.type
    for _, f in ipairs(s.fields) do
      local x = f.kind == "array" and f.item or f
      if x.kind == "object" then walk(x.schema) end
    end
  end
  for _, ep in ipairs(core.api) do
    walk(ep.body)
    walk(ep.query)
  end
  return list
end

describe("the LuaLS definitions (lua/featurebase/types/)", function()
  it("define every type core.api names (params, queries, nested objects, results) and the client's own", function()
    local names = schema_types()
    assert.is_true(#names >= 17)
    for _, ep in ipairs(core.api) do names[#names + 1] = ep.returns end
    for _, n in ipairs({ "featurebase.Error", "featurebase.Response", "featurebase.RateLimit", "featurebase.Options",
      "featurebase.CallOptions", "featurebase.Null", "featurebase.Company", "featurebase.Contact" }) do
      names[#names + 1] = n
    end
    for _, name in ipairs(names) do
      assert(classes[name] or aliases[name], name .. " has no ---@class or ---@alias in lua/featurebase/types/")
    end
    -- a params class has exactly the schema's fields, required ones without `?`
    for _, ep in ipairs(core.api) do
      local s = ep.body or ep.query
      if s then
        local c = classes[s.type]
        local n = 0
        for _ in pairs(c.fields) do n = n + 1 end
        assert.are.equal(#s.fields, n, s.type)
        for _, f in ipairs(s.fields) do
          assert(c.fields[f.name], s.type .. "." .. f.name)
          assert.are.equal(not f.required, c.fields[f.name].optional, s.type .. "." .. f.name)
        end
      end
    end
  end)

  it("declare both forms of every endpoint: path arguments, params, callback, options and results", function()
    for _, ep in ipairs(core.api) do
      local names = {}
      for _, a in ipairs(ep.args) do names[#names + 1] = a.name end
      local pname = ep.query and "query" or "params"
      if ep.params then names[#names + 1] = pname end
      local blocking = ("function Client:%s(%s) end"):format(ep.name,
        table.concat(names, ", ") .. (#names > 0 and ", " or "") .. "opts")
      names[#names + 1] = "callback"
      local async = ("function Client:%s_async(%s, opts) end"):format(ep.name, table.concat(names, ", "))
      local b = assert(API_TYPES:find(blocking, 1, true), blocking)
      local a = assert(API_TYPES:find(async, 1, true), async)
      -- the annotations right above a stub: from the blank line before it
      local function doc_before(pos)
        local start, at = 1, 1
        while true do
          local nl = API_TYPES:find("\n\n", at, true)
          if not nl or nl >= pos then break end
          start, at = nl + 2, nl + 1
        end
        return API_TYPES:sub(start, pos - 1)
      end
      local bdoc, adoc = doc_before(b), doc_before(a)
      assert.is_nil(bdoc:find("function Client:", 1, true))
      for _, arg in ipairs(ep.args) do
        assert.truthy(bdoc:find("---@param " .. arg.name .. " string", 1, true), ep.name .. " " .. arg.name)
        assert.truthy(adoc:find("---@param " .. arg.name .. " string", 1, true), ep.name .. "_async " .. arg.name)
      end
      if ep.params then
        local p = ("---@param %s%s %s"):format(pname, ep.params == "optional" and "?" or "", (ep.body or ep.query).type)
        assert.truthy(bdoc:find(p, 1, true), ep.name .. ": " .. p)
        assert.truthy(adoc:find(p, 1, true), ep.name .. "_async: " .. p)
      end
      assert.truthy(bdoc:find("---@return " .. ep.returns .. "|nil", 1, true), ep.name)
      assert.truthy(bdoc:find("---@return featurebase.Error|nil err", 1, true), ep.name)
      assert.truthy(bdoc:find("---@return featurebase.Response|nil response", 1, true), ep.name)
      local callback = "---@param callback fun(value: %s|nil, err: featurebase.Error|nil, response: featurebase.Response|nil)"
      assert.truthy(adoc:find(callback:format(ep.returns), 1, true), ep.name .. "_async")
      assert.truthy(bdoc:find(ep.method .. " " .. ep.path, 1, true), ep.name)
      assert.truthy(bdoc:find(ep.doc, 1, true), ep.name)
    end
    -- and nothing else: no stub for an endpoint core.api does not have
    local n = 0
    for _ in API_TYPES:gmatch("\nfunction Client:") do n = n + 1 end
    assert.are.equal(2 * #core.api, n)
  end)

  it("have a class for each of the 17 part types, with its partType, and the union of them all", function()
    assert.are.equal(17, #featurebase.PART_TYPES)
    local union = {}
    for _, m in ipairs(aliases["featurebase.ConversationPart"]) do union[m] = true end
    local covered = {}
    for name in pairs(union) do
      local f = assert(field_of(name, "partType"), name)
      covered[f.type:match('^"(.*)"$')] = name
    end
    for _, t in ipairs(featurebase.PART_TYPES) do assert(covered[t], "no class in the union has partType " .. t) end
    local n = 0
    for _ in pairs(union) do n = n + 1 end
    assert.are.equal(17, n)
  end)

  it("describe the documented conversation with all 17 parts field by field (spec/fixtures)", function()
    local conv = assert(core.decode({ status = 200, headers = {}, body = read("spec/fixtures/conversation_all_parts.json") }))
    assert.are.equal(17, #conv.conversationParts)
    local ok, why = conforms(conv, "featurebase.Conversation", "conversation")
    assert(ok, why)
    -- and it can fail: a field the class does not have, a wrong literal, a missing required field
    local bad = H.copy(conv)
    bad.conversationParts[1].partType = "user_message"
    assert.is_false((conforms(bad, "featurebase.Conversation", "conversation")))
    bad = H.copy(conv)
    bad.colour = "red"
    assert.is_false((conforms(bad, "featurebase.Conversation", "conversation")))
    bad = H.copy(conv)
    bad.state = nil
    assert.is_false((conforms(bad, "featurebase.Conversation", "conversation")))
  end)

  -- Every field it sends is in the class, with the class's type (the fake server leaves some
  -- documented fields out, so a missing one is not checked here: the fixture above checks those).
  it("describe what the fake server answers on every endpoint (its value is the endpoint's returns type)", function()
    local srv = H.server()
    local client = H.client(srv)
    local function check(ep_name, value, err)
      assert(value, tostring(err))
      local ret
      for _, ep in ipairs(core.api) do if ep.name == ep_name then ret = ep.returns end end
      lenient = true
      local ok, why = conforms(value, ret, ep_name)
      lenient = false
      assert(ok, why)
    end
    local contact = client:upsert_contact({ email = "types@example.com", userId = "types_1", name = "Type Checker",
      companies = { { id = "c1", name = "Acme", monthlySpend = 5, plan = "pro" } } })
    check("upsert_contact", contact)
    check("get_contact", client:get_contact(contact.id))
    check("get_contact_by_user_id", client:get_contact_by_user_id("types_1"))
    check("list_contacts", client:list_contacts({ contactType = "all", limit = 2 }))
    local conv = client:create_conversation({ from = { type = "contact", id = contact.id }, bodyMarkdown = "Hi" })
    check("create_conversation", conv)
    check("reply", client:reply(conv.id, { type = "admin", id = H.ADMIN, bodyMarkdown = "Hello", messageType = "reply" }))
    check("reply", client:reply(conv.id, { type = "admin", id = H.ADMIN, bodyMarkdown = "note", messageType = "note" }))
    check("update_conversation", client:update_conversation(conv.id, { state = "closed", title = "Typed" }))
    check("add_tag", client:add_tag(conv.id, { tagId = "67ec1234abcd5678ef901234", actingAdminId = H.ADMIN }))
    check("get_conversation", client:get_conversation(conv.id))
    check("list_conversations", client:list_conversations({ limit = 5 }))
    check("remove_tag", client:remove_tag(conv.id, "67ec1234abcd5678ef901234", { actingAdminId = H.ADMIN }))
    check("delete_conversation", client:delete_conversation(conv.id))
    check("delete_contact_by_user_id", client:delete_contact_by_user_id("types_1"))
    local _, err = client:get_contact(contact.id)
    assert.are.equal(404, err.status)
    local ok, why = conforms(err, "featurebase.Error", "err")
    assert(ok, why)
    local _, _, response = client:list_contacts()
    ok, why = conforms(response, "featurebase.Response", "response")
    assert(ok, why)
    client:close()
    srv:stop()
  end)
end)

-- Runs a script in a child interpreter (this one), in dir; returns ok, output.
local function run_script(dir, script, args)
  local root = assert(io.popen("pwd")):read("*l")
  local cmd = ("cd %q && LUA_PATH=%q LUA_CPATH=%q %s %q %s 2>&1; echo \"exit=$?\""):format(dir,
    root .. "/lua/?.lua;" .. package.path, (package.cpath:gsub("%./", root .. "/")), H.lua_bin(),
    root .. "/" .. script, args or "")
  local f = assert(io.popen(cmd))
  local out = f:read("*a")
  f:close()
  return out:match("exit=(%d+)%s*$") == "0", out
end

describe("freshness (what make lint runs)", function()
  it("scripts/gen-types.lua --check: the generated file and README block match core.api, and a stale one fails", function()
    local ok, out = run_script(".", "scripts/gen-types.lua", "--check")
    assert(ok, out)
    assert.truthy(out:find("match core.api", 1, true))
    -- a copy whose README block lost a method is stale
    local dir = os.tmpname()
    os.remove(dir)
    os.execute(("mkdir -p %q/lua/featurebase/types"):format(dir))
    local readme, n = read("README.md"):gsub("\nlocal deleted, err = client:delete_contact%([^\n]*", "", 1)
    assert.are.equal(1, n)
    local f = assert(io.open(dir .. "/README.md", "wb"))
    f:write(readme)
    f:close()
    f = assert(io.open(dir .. "/lua/featurebase/types/api.lua", "wb"))
    f:write(API_TYPES)
    f:close()
    ok, out = run_script(dir, "scripts/gen-types.lua", "--check")
    assert.is_false(ok)
    assert.truthy(out:find("README.md", 1, true), out)
    os.execute(("rm -rf %q"):format(dir))
  end)

  it("scripts/check-annotations.lua: passes on lua/, and refuses a type no file defines", function()
    local ok, out = run_script(".", "scripts/check-annotations.lua",
      "lua/featurebase.lua lua/featurebase/client.lua lua/featurebase/types/objects.lua lua/featurebase/types/api.lua")
    assert(ok, out)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write("---@class featurebase.T\n---@field conv featurebase.Conversaton the featurebase.null of it\n")
    f:close()
    ok, out = run_script(".", "scripts/check-annotations.lua", "lua/featurebase/types/objects.lua " .. path)
    os.remove(path)
    assert.is_false(ok)
    assert.truthy(out:find("featurebase.Conversaton is not defined", 1, true), out)
    assert.is_nil(out:find("featurebase.null", 1, true))
  end)
end)

describe("README: the API reference block", function()
  local readme = read("README.md")
  local b = assert(readme:find("<!-- api:begin", 1, true))
  local e = assert(readme:find("<!-- api:end -->", 1, true))
  local block = readme:sub(b, e)

  it("lists both forms of every endpoint, inside the block under the section heading", function()
    assert.truthy(readme:sub(1, b):find("\n## API reference\n", 1, true))
    for _, ep in ipairs(core.api) do
      assert.truthy(block:find("`client:" .. ep.name .. "(", 1, true), ep.name)
      assert.truthy(block:find("`client:" .. ep.name .. "_async(", 1, true), ep.name .. "_async")
      assert.truthy(block:find("= client:" .. ep.name .. "(", 1, true), ep.name .. ": example")
      assert.truthy(block:find("\nclient:" .. ep.name .. "_async(", 1, true), ep.name .. "_async: example")
    end
  end)

  it("has examples that are valid calls: each one's params pass core.encode", function()
    local by_name = {}
    for _, ep in ipairs(core.api) do by_name[ep.name] = ep end
    local calls = {}
    local fake = setmetatable({}, { __index = function(_, name)
      return function(_, ...) calls[#calls + 1] = { name = name, n = select("#", ...), ... } end
    end })
    local n = 0
    for code in block:gmatch("```lua\n(.-)```") do
      for line in code:gmatch("[^\n]+") do
        local chunk = assert((loadstring or load)(line:gsub("^local [%w_]+, err = ", "return "), "=readme", "t",
          { client = fake }))
        if setfenv then setfenv(chunk, { client = fake }) end
        chunk()
        n = n + 1
      end
    end
    assert.are.equal(2 * #core.api, n)
    assert.are.equal(2 * #core.api, #calls)
    for _, c in ipairs(calls) do
      local async = c.name:find("_async$") ~= nil
      local ep = assert(by_name[(c.name:gsub("_async$", ""))], c.name)
      local nargs = #ep.args
      local params = ep.params and c[nargs + 1] or nil
      if async then assert.is_function(c[c.n], c.name .. ": callback last") end
      assert.are.equal(nargs + (ep.params and 1 or 0) + (async and 1 or 0), c.n, c.name)
      local ok, err = core.encode(ep.name, params, nil, c[1], c[2])
      assert(ok, c.name .. ": " .. tostring(err and err.message))
    end
  end)
end)

