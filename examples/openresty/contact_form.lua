--- POST /contact: a visitor's message becomes a Featurebase conversation (see nginx.conf).
-- Form fields: name, email, message. The visitor's contact is found or created by email first
-- (client:upsert_contact), then the conversation is opened as that contact. Answers JSON:
--   201 {"conversation": "<id>", "contact": "<id>"}
--   422 {"error": "...", "field": "email" | "name" | "message"}      (nothing was sent)
--   502 {"error": "..."}                                               (Featurebase failed; logged)
-- Both calls go through nginx cosockets: the worker serves other visitors while it waits.
local cjson = require("cjson.safe")
local fb = require("featurebase.openresty")

local M = {}

local client -- one per worker: creating it does no I/O, nginx pools the connections

-- The API's field names, as the form calls them (errors name the form's field).
local FORM_FIELD = { email = "email", name = "name", bodyMarkdown = "message" }

local function answer(status, t)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.print(cjson.encode(t))
  return ngx.exit(ngx.OK)
end

local function failed(err)
  if err.kind == "invalid_request" then -- refused before sending
    return answer(422, { error = err.message, field = FORM_FIELD[err.field] or err.field })
  end
  ngx.log(ngx.ERR, "featurebase: ", tostring(err)) -- never contains the API key
  return answer(502, { error = "could not reach support, please try again" })
end

function M.handle()
  if ngx.req.get_method() ~= "POST" then
    ngx.header["Allow"] = "POST"
    return answer(405, { error = "POST the form" })
  end
  ngx.req.read_body()
  local form = ngx.req.get_post_args(20)
  -- An empty message is refused before the contact is touched (the C core checks the rest).
  if type(form.message) ~= "string" or not form.message:find("%S") then
    return answer(422, { error = "message is required", field = "message" })
  end

  if not client then
    local err
    -- api_key and base_url from FEATUREBASE_API_KEY / FEATUREBASE_BASE_URL (the `env` lines)
    client, err = fb.new({ timeout = 10 })
    if not client then
      ngx.log(ngx.ERR, "featurebase: ", tostring(err))
      return answer(500, { error = "support form is not configured" })
    end
  end

  -- 1. The visitor's contact, by email: created the first time, updated (name) afterwards. A
  -- repeated field arrives as a table and is refused by the C core, not coerced.
  local contact, err = client:upsert_contact({ email = form.email,
    name = form.name ~= "" and form.name or nil })
  if not contact then return failed(err) end

  -- 2. The conversation, opened by that contact.
  local conv
  conv, err = client:create_conversation({
    from = { type = "contact", id = contact.id },
    bodyMarkdown = form.message,
  })
  if not conv then return failed(err) end
  return answer(201, { conversation = conv.id, contact = contact.id })
end

return M
