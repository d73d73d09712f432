-- featurebase.testing as a user's own busted suite uses it (the README's "Testing your code"):
-- code under test that talks to Featurebase, a fake server started by the suite, and assertions
-- on what the server received. Nothing here reaches into the library's internals.
local featurebase = require("featurebase")
local testing = require("featurebase.testing")

-- The user's code: escalate an order problem to support, with a note for the team.
local ADMIN = "507f1f77bcf86cd799439011"
local function escalate(client, contact_id, order)
  local conv, err = client:start_conversation(contact_id, ("Order %s has not arrived."):format(order))
  if not conv then return nil, err end
  local _, nerr = client:add_note(conv.id, ADMIN, ("Order %s: check with the carrier"):format(order))
  if nerr then return nil, nerr end
  return conv.id
end

describe("a user's suite with featurebase.testing", function()
  local srv, client
  setup(function()
    srv = testing.start()  -- a real nginx on 127.0.0.1, stopped by teardown (or when this process exits)
    client = assert(featurebase.new({ api_key = srv.api_key, base_url = srv.url }))
  end)
  teardown(function()
    client:close()
    srv:stop()
  end)
  before_each(function() srv:reset() end)

  it("checks what the code sent", function()
    local id = assert(escalate(client, "676f0f6765bdaa7d7d760f88", "A-17"))
    local reqs = srv:requests()
    assert.are.equal(2, #reqs)
    assert.are.equal("POST", reqs[1].method)
    assert.are.equal("/v2/conversations", reqs[1].path)
    assert.are.equal("Order A-17 has not arrived.", reqs[1].json.bodyMarkdown)
    assert.are.equal("Bearer " .. srv.api_key, reqs[1].headers.authorization)
    assert.are.equal("/v2/conversations/" .. id .. "/reply", reqs[2].path)
    assert.are.equal("note", reqs[2].json.messageType)
    -- and the conversation as the server now holds it
    local notes = featurebase.parts(srv:conversation(id), "admin_note")
    assert.are.equal("Order A-17: check with the carrier", notes[1].bodyMarkdown)
  end)

  it("makes the server fail on cue, to test the code's error path", function()
    srv:script({ "", "status=404" }) -- the first request answers normally, the second gets a 404
    local id, err = escalate(client, "676f0f6765bdaa7d7d760f88", "B-2")
    assert.is_nil(id)
    assert.are.same({ "http", 404 }, { err.kind, err.status })
    assert.are.equal(2, #srv:requests())
  end)

  it("starts fresh after reset", function()
    assert.are.same({}, srv:requests())
    assert.is_nil(srv:conversation("1"))
  end)
end)

describe("featurebase.testing.free_port", function()
  it("never hands out the same port twice (bind(0) would, now and then: two listeners on one port)", function()
    local seen = {}
    for _ = 1, 3000 do
      local port = testing.free_port()
      assert.is_nil(seen[port], "port " .. port .. " handed out twice")
      assert.is_true(port > 0 and port < 65536)
      seen[port] = true
    end
  end)
end)
