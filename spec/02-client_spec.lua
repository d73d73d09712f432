-- featurebase.new: options, defaults from the environment, misuse, closing, and the key's secrecy.
local featurebase = require("featurebase")
local H = require("spec.helpers")

local function refused(opts, field)
  local client, err = featurebase.new(opts)
  assert.is_nil(client)
  assert.are.equal("invalid_request", err.kind)
  assert.are.equal(field, err.field)
  assert.is_true(featurebase.is_error(err))
  return err
end

describe("featurebase.new", function()
  it("builds a client with only an api_key", function()
    local client = assert(featurebase.new({ api_key = H.KEY }))
    assert.are.equal("featurebase.Client (https://do.featurebase.app)", tostring(client))
    client:close()
  end)

  it("requires an api_key", function()
    local out = H.run_lua("-u FEATUREBASE_API_KEY", [[
      local c, err = require("featurebase").new{}
      io.write(tostring(c), " ", err.field)]])
    assert.are.equal("nil api_key", out)
  end)

  it("reads FEATUREBASE_API_KEY and FEATUREBASE_BASE_URL", function()
    local out = H.run_lua("FEATUREBASE_API_KEY=sk_env FEATUREBASE_BASE_URL=http://127.0.0.1:9", [[
      io.write(tostring(assert(require("featurebase").new())))]])
    assert.are.equal("featurebase.Client (http://127.0.0.1:9)", out)
  end)

  it("lets an explicit base_url win over FEATUREBASE_BASE_URL", function()
    local out = H.run_lua("FEATUREBASE_API_KEY=sk_env FEATUREBASE_BASE_URL=http://127.0.0.1:9", [[
      io.write(tostring(assert(require("featurebase").new{base_url = "https://example.com/"})))]])
    assert.are.equal("featurebase.Client (https://example.com)", out)
  end)

  it("refuses header injection in api_key", function()
    refused({ api_key = "sk\r\nX-Evil: 1" }, "api_key")
    refused({ api_key = "sk\0x" }, "api_key")
    refused({ api_key = "sk x" }, "api_key")
    refused({ api_key = "" }, "api_key")
    refused({ api_key = 42 }, "api_key")
  end)

  it("checks base_url", function()
    assert.truthy(featurebase.new({ api_key = "k", base_url = "https://api.example.com" }))
    assert.truthy(featurebase.new({ api_key = "k", base_url = "http://127.0.0.1:8080/" }))
    assert.truthy(featurebase.new({ api_key = "k", base_url = "http://localhost:8080" }))
    assert.truthy(featurebase.new({ api_key = "k", base_url = "http://[::1]:8080" }))
    for _, url in ipairs({ "file:///etc/passwd", "gopher://x", "ftp://x", "example.com", "https://",
      "https://a b", "https://x\r\n", "https://user:pw@x", "https://x/?q=1" }) do
      refused({ api_key = "k", base_url = url }, "base_url")
    end
    refused({ api_key = "k", base_url = 5 }, "base_url")
  end)

  it("refuses plain http to another host unless allowed", function()
    local err = refused({ api_key = "k", base_url = "http://example.com" }, "base_url")
    assert.truthy(err.message:find("allow_insecure_http", 1, true))
    assert.truthy(featurebase.new({ api_key = "k", base_url = "http://example.com", allow_insecure_http = true }))
    refused({ api_key = "k", base_url = "http://example.com", allow_insecure_http = "yes" }, "allow_insecure_http")
  end)

  it("checks version", function()
    assert.truthy(featurebase.new({ api_key = "k", version = "2026-01-01.nova" }))
    assert.truthy(featurebase.new({ api_key = "k", version = "2026-08-19.orbit" }))
    refused({ api_key = "k", version = "2025-12-12.clover" }, "version")
    refused({ api_key = "k", version = "2026-13-01.nova" }, "version")
    refused({ api_key = "k", version = "2026-01-01" }, "version")
    refused({ api_key = "k", version = "2026-01-01.Nova" }, "version")
    refused({ api_key = "k", version = "2026-01-01.nova\r\nX: y" }, "version")
    refused({ api_key = "k", version = 2026 }, "version")
  end)

  it("checks timeouts", function()
    assert.truthy(featurebase.new({ api_key = "k", timeout = 0.5, connect_timeout = 0.1 }))
    refused({ api_key = "k", timeout = 0 }, "timeout")
    refused({ api_key = "k", timeout = -1 }, "timeout")
    refused({ api_key = "k", timeout = 0 / 0 }, "timeout")
    refused({ api_key = "k", timeout = math.huge }, "timeout")
    refused({ api_key = "k", timeout = "30" }, "timeout")
    refused({ api_key = "k", connect_timeout = false }, "connect_timeout")
  end)

  it("refuses unknown options by name", function()
    refused({ api_key = "k", apikey = "k" }, "apikey")
    refused({ api_key = "k", base_uri = "https://x" }, "base_uri")
  end)

  it("raises on misuse", function()
    assert.has_error(function() featurebase.new("sk") end, "bad argument #1 to 'new' (table expected, got string)")
    local client = assert(featurebase.new({ api_key = "k" }))
    assert.has_error(function() client.reply("1", H.admin_reply()) end)
    local ok, msg = pcall(client.create_conversation, H.contact_create())
    assert.is_false(ok)
    assert.truthy(msg:find("client:create_conversation", 1, true))
    assert.has_error(function() client:create_conversation() end,
      "bad argument #1 to 'create_conversation' (table expected, got nil)")
    assert.has_error(function() client:reply("1", "hello") end,
      "bad argument #2 to 'reply' (table expected, got string)")
  end)

  it("never shows the api key", function()
    local secret = "sk_live_TOPSECRET_123"
    local client = assert(featurebase.new({ api_key = secret }))
    assert.is_nil(tostring(client):find(secret, 1, true))
    for k, v in pairs(client) do
      assert.is_nil(tostring(k):find(secret, 1, true))
      assert.is_nil(tostring(v):find(secret, 1, true))
    end
    local _, err = featurebase.new({ api_key = secret, base_url = "ftp://x" })
    assert.is_nil(tostring(err):find(secret, 1, true))
  end)

  it("closes once, twice, and refuses calls after", function()
    local client = assert(featurebase.new({ api_key = "k" }))
    client:close()
    client:close()
    assert.are.equal("featurebase.Client (closed)", tostring(client))
    assert.has_error(function() client:create_conversation(H.contact_create()) end, "featurebase: the client is closed")
  end)

  if _VERSION == "Lua 5.4" then
    it("closes a <close> variable at the end of its scope", function()
      local run = assert(load([[
        local featurebase = ...
        local kept
        do
          local client <close> = assert(featurebase.new({ api_key = "k" }))
          kept = client
        end
        return tostring(kept)
      ]]))
      assert.are.equal("featurebase.Client (closed)", run(featurebase))
    end)
  end
end)
