-- Inputs the fuzzers (fuzz/) found breaking the C core, kept as tests on every Lua. The raw
-- inputs are in fuzz/corpus/ too, which `make check` replays under ASan and UBSan.
local core = require("featurebase.core")
local H = require("spec.helpers")

describe("fuzz regressions", function()
  it("decodes a body nested 999 deep with nulls (the null stripping overflowed the Lua stack)", function()
    local body = ("["):rep(999) .. "null,1,null" .. ("]"):rep(999)
    for _, status in ipairs({ 200, 500 }) do
      local value, err = core.decode({ status = status, headers = {}, body = body })
      local t = value or err.body
      for _ = 1, 998 do
        assert.are.equal(1, #t)
        t = t[1]
      end
      assert.are.same({ 1 }, t) -- nulls gone, the array closed up
    end
  end)

  it("refuses a status no server can send instead of converting NaN or 1e300 to an integer", function()
    for _, status in ipairs({ 0 / 0, 1 / 0, -1 / 0, 1e300, -1, 1000, 250.5 }) do -- 250.5: err.status would differ
      assert.has_error(function() core.decode({ status = status, headers = {}, body = "{}" }) end)
      local ok, msg = pcall(core.decode, { status = status, headers = {}, body = "{}" })
      assert.is_false(ok)
      assert.truthy(tostring(msg):find("response.status", 1, true))
    end
    assert.are.same({ a = 1 }, core.decode({ status = 200.0, headers = {}, body = '{"a":1}' }))
  end)

  it("sends the key over plain http only to exactly localhost, [::1] or 127.x.y.z", function()
    local function new(url) return core.new({ api_key = "sk_test_1", base_url = url }) end
    for _, url in ipairs({ "http://127.0.0.1.evil.com", "http://127.evil.com", "http://[::1]x.evil.com",
      "http://localhost.evil.com", "http://127.0.0.1..", "http://127.0.0" }) do
      local c, err = new(url)
      assert.is_nil(c, url)
      assert.are.equal("base_url", err.field)
    end
    for _, url in ipairs({ "http://127.0.0.1", "http://127.0.0.1:8080/x", "http://localhost/", "http://[::1]:80" }) do
      assert.is_truthy(new(url), url)
    end
  end)

  it("matches client option names by their whole length and shows bad ones on one line", function()
    local c, err = core.new({ api_key = "sk_test_1", ["api_key\0x"] = "y" })
    local _
    assert.is_nil(c)
    assert.are.equal("api_key?x", err.field)
    _, err = core.new({ api_key = "sk_test_1", [""] = 1 })
    assert.are.equal('""', err.field)
    _, err = core.new({ api_key = "sk_test_1", ["a\nb"] = 1 })
    assert.are.equal("a?b", err.field)
    assert.is_nil(err.message:find("\n"))
  end)

  it("names an empty key in the error's field", function()
    local _, err = H.encode_create({ [""] = "x" })
    assert.are.equal('""', err.field)
    assert.truthy(err.message:find('^""'))
    _, err = H.encode_reply("abc", { type = "admin", [""] = 1 })
    assert.are.equal('""', err.field)
  end)
end)
