-- Import conversations from another tool into Featurebase, resumably.
--
--   FEATUREBASE_API_KEY=sk_... lua5.4 examples/import.lua conversations.json
--
-- conversations.json is a JSON array (or {"conversations": [...]}) of create-conversation bodies,
-- each with a stable "key" from the old tool and its later "messages" as reply bodies:
--
--   [{"key": "zendesk-4711", "createdAt": "2024-03-01T09:00:00Z",
--     "from": {"type": "contact", "id": "676f0f6765bdaa7d7d760f88"}, "bodyMarkdown": "My invoice is wrong",
--     "messages": [{"type": "admin", "id": "507f1f77bcf86cd799439011", "bodyMarkdown": "Fixed it!"},
--                  {"type": "contact", "userId": "u-42", "bodyMarkdown": "Thanks"}]}]
--
-- Options:
--   --journal PATH          the journal (default: FILE.journal); keep it to resume a stopped run
--   --in-doubt skip|resend  a step that may have been sent when the last run died: skip it (default:
--                           nothing is ever sent twice) or send it again (at most one duplicate)
--   --notify                do not set skipNotifications on replies
--   --concurrency N         conversations in flight at once (default 1), on the async engine
-- A progress bar on a terminal, plain lines otherwise (stderr); the summary on stdout.
-- Exit status: 0 everything imported, 1 failures or steps in doubt (listed), 2 bad usage or input.
local featurebase = require("featurebase")
local cjson = require("cjson.safe")

local function usage(msg)
  io.stderr:write(msg, "\nusage: import.lua FILE.json [--journal PATH] [--in-doubt skip|resend] [--notify]"
    .. " [--concurrency N]\n")
  os.exit(2)
end

local file
local opts = { progress = "auto", in_doubt = "skip" }
local i = 1
while arg[i] do
  local a = arg[i]
  if a == "--journal" or a == "--in-doubt" or a == "--concurrency" then
    local v = arg[i + 1] or usage(a .. " needs a value")
    if a == "--journal" then opts.journal = v
    elseif a == "--in-doubt" then opts.in_doubt = v
    else opts.concurrency = tonumber(v) or usage("--concurrency takes a number") end
    i = i + 2
  else
    if a == "--notify" then
      opts.skip_notifications = false
    elseif a:sub(1, 1) == "-" or file then
      usage("unexpected argument " .. a)
    else
      file = a
    end
    i = i + 1
  end
end
if not file then usage("no input file") end
if opts.in_doubt ~= "skip" and opts.in_doubt ~= "resend" then usage("--in-doubt is skip or resend") end
opts.journal = opts.journal or (file .. ".journal")

local f, why = io.open(file, "rb")
if not f then usage(tostring(why)) end
local data, err = cjson.decode(f:read("*a"))
f:close()
if type(data) ~= "table" then usage(file .. ": not JSON: " .. tostring(err)) end

-- JSON null means "absent", as in the API's own answers
local function strip_nulls(t)
  for k, v in pairs(t) do
    if v == cjson.null then t[k] = nil elseif type(v) == "table" then strip_nulls(v) end
  end
  return t
end
local conversations = strip_nulls(data.conversations or data)

local client, cerr = featurebase.new() -- FEATUREBASE_API_KEY, FEATUREBASE_BASE_URL
if not client then usage(tostring(cerr)) end

local summary = client:import(conversations, opts)
io.stdout:write(require("featurebase.import").format_summary(summary), "\n")
client:close()
os.exit((summary.failed == 0 and summary.in_doubt == 0) and 0 or 1)
