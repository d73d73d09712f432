--- POST /contact: a visitor's message becomes a Featurebase conversation (see nginx.conf).
-- Form fields: contact_id (the visitor's Featurebase contact id; a real site takes it from the
-- signed-in session, not from the form) and message. Answers JSON:
--   201 {"conversation": "<id>"}      422 {"error": "...", "field": "..."}      502 {"error": "..."}
local cjson = require("cjson.safe")
local fb = require("featurebase.openresty")

local M = {}

local client -- one per worker: creating it does no I/O, nginx pools the connections

local function answer(status, t)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.print(cjson.encode(t))
  return ngx.exit(ngx.OK)
end

function M.handle()
  if ngx.req.get_method() ~= "POST" then
    ngx.header["Allow"] = "POST"
    return answer(405, { error = "POST the form" })
  end
  ngx.req.read_body()
  local form = ngx.req.get_post_args(20)

  if not client then
    local err
    -- api_key and base_url from FEATUREBASE_API_KEY / FEATUREBASE_BASE_URL (the `env` lines)
    client, err = fb.new({ timeout = 10 })
    if not client then
      ngx.log(ngx.ERR, "featurebase: ", tostring(err))
      return answer(500, { error = "support form is not configured" })
    end
  end

  -- The C core validates everything (a repeated field arrives as a table and is refused, not coerced).
  local conv, err = client:create_conversation({
    from = { type = "contact", id = form.contact_id },
    bodyMarkdown = form.message,
  })
  if conv then return answer(201, { conversation = conv.id }) end
  if err.kind == "invalid_request" then return answer(422, { error = err.message, field = err.field }) end
  ngx.log(ngx.ERR, "featurebase: ", tostring(err)) -- never contains the API key
  return answer(502, { error = "could not reach support, please try again" })
end

return M
