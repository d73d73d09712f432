--- Contacts in the fake Featurebase server (runs inside nginx): list, upsert, get and delete by id or
-- by userId, and seeding. Handlers take the request (`r.id`, `r.user_id`, `r.args`, `r.body`) and return
-- status, body [, content type, extra headers].
--
-- State in the shared dict:
--   ct:<id>        the Contact as JSON
--   cu:<userId>    id of the contact with that userId; ce:<lowercased email> likewise
--   the list order is the collection "k" (see common.lua)

local C = require("featurebase.testing.common")

local M = {}

local dict, null, encode, decode = C.dict, C.null, C.encode, C.decode
local invalid, missing, fail = C.invalid, C.missing, C.fail

local ORG = "5f0c1b2a3d4e5f60718293a4"  -- the fake's organizationId

-- storage -----------------------------------------------------------------------------------------

function M.load(id)
  local s = type(id) == "string" and dict:get("ct:" .. id)
  return s and decode(s) or nil
end

function M.by_user_id(user_id)
  return M.load(dict:get("cu:" .. user_id))
end

function M.by_email(email)
  return M.load(dict:get("ce:" .. email:lower()))
end

--- The stored Contact as JSON, or nil.
function M.json(id)
  return dict:get("ct:" .. id)
end

local function index(c, on)
  local function set(k) if on then dict:set(k, c.id) elseif dict:get(k) == c.id then dict:delete(k) end end
  if type(c.userId) == "string" then set("cu:" .. c.userId) end
  if type(c.email) == "string" then set("ce:" .. c.email:lower()) end
end

local function save(c, old)
  if old then index(old, false) end
  dict:set("ct:" .. c.id, encode(c))
  index(c, true)
end

local function drop(c)
  index(c, false)
  dict:delete("ct:" .. c.id)
  C.remove("k", c.id)
  return 200, '{"id":' .. encode(c.id) .. ',"object":"contact","deleted":true}'
end

-- a fresh ObjectId: derived from the key the contact was created with, so it is stable across runs
local function new_id(key)
  local id = C.derived_id(key)
  while dict:get("ct:" .. id) do id = C.derived_id(id .. "+") end
  return id
end

local function blank(id, t)
  local c = { object = "contact", id = id, name = "", type = "customer", organizationId = ORG, email = null,
    profilePicture = null, companies = {}, commentsCreated = 0, postsCreated = 0, lastActivity = C.now_iso(),
    subscribedToChangelog = true, manuallyOptedOutFromChangelog = false, verified = false, roles = {},
    locale = "en", customFields = {} }
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- validation --------------------------------------------------------------------------------------

local UPSERT_KEYS = { email = true, userId = true, name = true, userHash = true, profilePicture = true,
  companies = true, createdAt = true, customFields = true, subscribedToChangelog = true, locale = true,
  phone = true, roles = true }
local COMPANY_KEYS = { id = true, name = true, monthlySpend = true, companySize = true, industry = true,
  website = true, plan = true, customFields = true, createdAt = true, companyHash = true }

local function is_primitive(v)
  local t = type(v)
  return t == "string" or t == "number" or t == "boolean" or v == null
end

-- customFields: an object whose values are primitives or arrays of primitives
local function check_custom_fields(v, p)
  if not C.is_object(v) then return invalid(p .. " must be an object", p) end
  for k, x in pairs(v) do
    local ok = is_primitive(x)
    if not ok and C.is_array(x) then
      ok = true
      for _, y in ipairs(x) do ok = ok and is_primitive(y) end
    end
    if not ok then return invalid(p .. "." .. k .. " must be a primitive or an array of primitives", p .. "." .. k) end
  end
end

local function check_number(v, p, nullable)
  if nullable and v == null then return end
  if type(v) ~= "number" or v ~= v then return invalid(p .. " must be a number", p) end
  if v < 0 then return invalid(p .. " must be at least 0", p) end
end

local function check_date(v, p)
  if v ~= null and not C.is_iso8601(v) then return invalid(p .. " must be an ISO 8601 timestamp or null", p) end
end

local function check_company(co, p)
  if not C.is_object(co) then return invalid(p .. " must be an object", p) end
  local s, e = C.check_keys(co, COMPANY_KEYS, p .. ".")
  if s then return s, e end
  for _, k in ipairs({ "id", "name" }) do
    if co[k] == nil then return missing(p .. "." .. k) end
    s, e = C.check_string(co[k], p .. "." .. k, 500, 1)
    if s then return s, e end
  end
  if co.monthlySpend ~= nil then s, e = check_number(co.monthlySpend, p .. ".monthlySpend") end
  if not s and co.companySize ~= nil then s, e = check_number(co.companySize, p .. ".companySize", true) end
  if s then return s, e end
  for _, k in ipairs({ "industry", "website", "plan" }) do
    if co[k] ~= nil then
      s, e = C.check_string(co[k], p .. "." .. k, 500)
      if s then return s, e end
    end
  end
  if co.companyHash ~= nil then s, e = C.check_string(co.companyHash, p .. ".companyHash", 256) end
  if not s and co.customFields ~= nil then s, e = check_custom_fields(co.customFields, p .. ".customFields") end
  if not s and co.createdAt ~= nil then s, e = check_date(co.createdAt, p .. ".createdAt") end
  return s, e
end

local function validate_upsert(b)
  local s, e = C.check_keys(b, UPSERT_KEYS)
  if s then return s, e end
  if b.email == nil and b.userId == nil then
    return invalid("email or userId is required", "email", "missing_parameter")
  end
  if b.email ~= nil then
    s, e = C.check_string(b.email, "email", 500)
    if s then return s, e end
    if not C.is_email(b.email) then return invalid("email must be a valid email address", "email") end
  end
  if b.userId ~= nil then
    s, e = C.check_string(b.userId, "userId", 500, 1)
    if s then return s, e end
  end
  for _, f in ipairs({ { "name", 500 }, { "userHash", 256 }, { "locale", 10 } }) do
    if b[f[1]] ~= nil then
      s, e = C.check_string(b[f[1]], f[1], f[2])
      if s then return s, e end
    end
  end
  if b.phone ~= nil and b.phone ~= null then
    s, e = C.check_string(b.phone, "phone", 500)
    if s then return s, e end
  end
  local pic = b.profilePicture
  if pic ~= nil and pic ~= null and not (type(pic) == "string" and pic:find("^%a[%w+.-]*://[^%s]+$")) then
    return invalid("profilePicture must be a URI or null", "profilePicture")
  end
  if b.createdAt ~= nil then
    s, e = check_date(b.createdAt, "createdAt")
    if s then return s, e end
  end
  if b.customFields ~= nil then
    s, e = check_custom_fields(b.customFields, "customFields")
    if s then return s, e end
  end
  if b.subscribedToChangelog ~= nil and type(b.subscribedToChangelog) ~= "boolean" then
    return invalid("subscribedToChangelog must be a boolean", "subscribedToChangelog")
  end
  if b.roles ~= nil then
    if not C.is_array(b.roles) then return invalid("roles must be an array of strings", "roles") end
    if #b.roles > 100 then return invalid("roles must have at most 100 items", "roles") end
    for i, v in ipairs(b.roles) do
      s, e = C.check_string(v, "roles[" .. i .. "]", 255)
      if s then return s, e end
    end
  end
  if b.companies ~= nil then
    if not C.is_array(b.companies) then return invalid("companies must be an array", "companies") end
    if #b.companies > 100 then return invalid("companies must have at most 100 items", "companies") end
    for i, co in ipairs(b.companies) do
      s, e = check_company(co, "companies[" .. i .. "]")
      if s then return s, e end
    end
  end
end

-- handlers ----------------------------------------------------------------------------------------

local CONTACT_TYPES = { customer = true, lead = true, all = true }

--- GET /v2/contacts?limit&cursor&contactType (customer by default) -> list, insertion order
function M.list(r)
  local ctype = r.args.contactType or "customer"
  if not CONTACT_TYPES[ctype] then
    return invalid('contactType must be "customer", "lead" or "all"', "contactType")
  end
  local limit, start, e = C.page_args("k", ctype, r.args)
  if not limit then return start, e end
  return 200, C.page("k", ctype, limit, start, function(id)
    local json = M.json(id)
    if json and ctype ~= "all" and decode(json).type ~= ctype then return nil end
    return json
  end)
end

--- POST /v2/contacts: upsert by userId, then email -> 201 created | 200 updated, the Contact
function M.upsert(r)
  local b = r.body
  local s, e = validate_upsert(b)
  if s then return s, e end
  local c = b.userId and M.by_user_id(b.userId)
  if not c and b.email then
    c = M.by_email(b.email)
    -- the email fallback finds a contact with no userId, or the same one
    if c and b.userId and type(c.userId) == "string" and c.userId ~= b.userId then c = nil end
  end
  local old = c and decode(encode(c))
  local status = c and 200 or 201
  c = c or blank(new_id(b.userId and ("user:" .. b.userId) or ("email:" .. b.email:lower())))
  for k, v in pairs(b) do
    if k == "companies" then
      local list = {}
      for _, co in ipairs(v) do
        list[#list + 1] = { object = "company", id = C.derived_id("company:" .. co.id), companyId = co.id,
          name = co.name, monthlySpend = co.monthlySpend or 0, companySize = co.companySize or null,
          industry = co.industry or null, website = co.website or null, plan = co.plan or null,
          createdAt = co.createdAt or null, customFields = co.customFields or {}, linkedUsers = 1,
          lastActivity = C.now_iso(), updatedAt = C.now_iso() }
      end
      c.companies = list
    elseif k ~= "userHash" and k ~= "createdAt" and k ~= "phone" then
      c[k] = v
    end
  end
  if c.name == "" then c.name = type(c.email) == "string" and c.email:match("^[^@]+") or c.userId or "" end
  c.lastActivity = C.now_iso()
  save(c, old)
  if status == 201 then C.append("k", c.id) end
  return status, M.json(c.id)
end

local function check_id(id)
  if not C.is_hex24(id) then return invalid("id must be a 24-character hex ObjectId", "id", "invalid_id") end
end

local function not_found(param)
  return fail(404, "contact_not_found", "Contact not found", param)
end

--- GET /v2/contacts/{id} -> Contact (customers and leads)
function M.get(r)
  local s, e = check_id(r.id)
  if s then return s, e end
  local json = M.json(r.id)
  if not json then return not_found("id") end
  return 200, json
end

--- DELETE /v2/contacts/{id} -> {id, object:"contact", deleted:true}
function M.delete(r)
  local s, e = check_id(r.id)
  if s then return s, e end
  local c = M.load(r.id)
  if not c then return not_found("id") end
  return drop(c)
end

local function check_user_id(u)
  return C.check_string(u, "userId", 255, 1)
end

--- GET /v2/contacts/by-user-id/{userId} -> Contact (customers only)
function M.get_by_user_id(r)
  local s, e = check_user_id(r.user_id)
  if s then return s, e end
  local c = M.by_user_id(r.user_id)
  if not c or c.type ~= "customer" then return not_found("userId") end
  return 200, M.json(c.id)
end

--- DELETE /v2/contacts/by-user-id/{userId} -> {id, object:"contact", deleted:true} (customers only)
function M.delete_by_user_id(r)
  local s, e = check_user_id(r.user_id)
  if s then return s, e end
  local c = M.by_user_id(r.user_id)
  if not c then return not_found("userId") end
  if c.type ~= "customer" then
    return fail(400, "invalid_request", "The contact is not a customer", "userId")
  end
  return drop(c)
end

--- Stores a test's contact: any Contact fields, the rest defaulted (`type` customer, `id` derived from
-- userId or email, else from its position). Returns the id, or nil and a message.
function M.seed(t, n)
  if not C.is_object(t) then return nil, "contacts[" .. n .. "] must be an object" end
  if t.id ~= nil and not C.is_hex24(t.id) then return nil, "contacts[" .. n .. "].id must be a 24-hex ObjectId" end
  for _, k in ipairs({ "userId", "email" }) do
    if t[k] ~= nil and type(t[k]) ~= "string" then return nil, "contacts[" .. n .. "]." .. k .. " must be a string" end
  end
  if t.type ~= nil and t.type ~= "customer" and t.type ~= "lead" then
    return nil, "contacts[" .. n .. '].type must be "customer" or "lead"'
  end
  if t.id == nil and t.userId == nil and t.email == nil then  -- a generated customer: seed<pos>@example.com
    local pos = (dict:get("k_n") or 0) + 1
    t = { userId = "seed_user_" .. pos, email = "seed" .. pos .. "@example.com", name = "Seed contact " .. pos,
      type = t.type }
  end
  local old = t.id and M.load(t.id)
  local id = t.id or new_id(t.userId and ("user:" .. t.userId) or ("email:" .. t.email:lower()))
  local c = blank(id, t)
  c.id = id
  if c.name == "" then c.name = type(c.email) == "string" and c.email:match("^[^@]+") or c.userId or "" end
  save(c, old)
  if not old then C.append("k", id) end
  return id
end

return M
