--- What the benchmarks send and answer, shared by bench/run.lua, bench/instructions.lua and
-- bench/concurrency.lua: the docs' example requests and responses, the headers Featurebase answers
-- with, the TLS listener of their nginx, and their helpers.
local core = require("featurebase.core")

local M = {}

M.KEY = "sk_bench_0123456789"

-- The docs' example responses (create-conversation.txt, reply-to-conversation.txt), as one line.
M.EXAMPLE = '{"object":"conversation","id":"12345","state":"open","priority":false,"adminAssigneeId":null,'
  .. '"participants":[{"type":"customer","id":"676f0f6765bdaa7d7d760f88"}],"source":{"channel":"desktop",'
  .. '"deliveredAs":"customer_initiated","bodyHtml":"<p>Hello, I have a question about your product.</p>",'
  .. '"bodyMarkdown":"Hello, I have a question about your product.","author":{"type":"customer",'
  .. '"id":"676f0f6765bdaa7d7d760f88"}},"createdAt":"2025-01-15T10:30:00.000Z",'
  .. '"updatedAt":"2025-01-15T10:30:00.000Z"}'
M.REPLY_EXAMPLE = '{"object":"conversation_part","id":"3","partType":"user_msg",'
  .. '"bodyHtml":"<p>Thank you for your help!</p>","bodyMarkdown":"Thank you for your help!",'
  .. '"author":{"type":"customer","id":"676f0f6765bdaa7d7d760f88","name":"John Doe","email":"john@example.com"},'
  .. '"channel":"desktop","createdAt":"2025-01-15T10:40:00.000Z","updatedAt":"2025-01-15T10:40:00.000Z"}'

M.PARAMS = { from = { type = "contact", id = "676f0f6765bdaa7d7d760f88" },
  bodyMarkdown = "Hello, I have a question about your product.", channel = "desktop" }
M.REPLY = { type = "contact", id = "676f0f6765bdaa7d7d760f88", bodyMarkdown = "Thank you for your help!",
  messageType = "reply" }

-- nginx directives for a location answering JSON with Featurebase's headers
M.HEADERS = "default_type application/json; add_header X-Request-Id req_0123456789abcdef; "
  .. "add_header X-RateLimit-Limit 2000; add_header X-RateLimit-Remaining 1999; "
  .. "add_header X-RateLimit-Reset 1767225600; "

-- What a shell command prints on stdout.
function M.capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

-- A free TCP port of 127.0.0.1 for an extra nginx listener (never the fake server's own).
M.free_port = require("featurebase.testing").free_port

-- The nginx lines of a TLS 1.3 + HTTP/2 listener on port with a certificate of the test CA
-- (featurebase.testing.certificates), counting every ClientHello in the shared dict `dict`.
function M.tls_listener(port, certs, dict)
  return table.concat({
    "  listen 127.0.0.1:" .. port .. " ssl http2;",
    "  ssl_certificate " .. certs.server .. "; ssl_certificate_key " .. certs.server_key .. ";",
    "  ssl_protocols TLSv1.2 TLSv1.3;", -- nginx 1.22 offers TLS 1.3 only when asked
    "  ssl_client_hello_by_lua_block { ngx.shared." .. dict .. ":incr('handshakes', 1, 0) }",
  }, "\n")
end

-- featurebase's User-Agent: every peer sends it too, so that all send the same request bytes
-- (libcurl 7.88 formats each header byte on every call, ~70 instructions a byte).
function M.user_agent()
  return ("featurebase-lua/%s (%s; libcurl/%s)"):format(require("featurebase")._VERSION,
    jit and jit.version or _VERSION, core.curl_version)
end

return M
