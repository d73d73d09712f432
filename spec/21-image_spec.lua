-- featurebase.image: real tiny images (spec/fixtures/images, made with libpng-style zlib, cjpeg and
-- cwebp), MIME types from magic bytes, base64 in C checked against coreutils' base64, the size limit.
local featurebase = require("featurebase")
local core = require("featurebase.core")
local H = require("spec.helpers")

local DIR = "spec/fixtures/images/"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- coreutils' base64 of a file: an independent encoder to compare with
local function coreutils_base64(path)
  local p = assert(io.popen("base64 -w0 " .. path))
  local s = p:read("*a")
  p:close()
  return s
end

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

describe("featurebase.image", function()
  local KINDS = { png = "image/png", jpg = "image/jpeg", gif = "image/gif", webp = "image/webp",
    svg = "image/svg+xml" }

  for ext, mime in pairs(KINDS) do
    it("embeds a real " .. ext .. " from its bytes or its path", function()
      local path = DIR .. "tiny." .. ext
      local bytes = read(path)
      local want = ("![](data:%s;base64,%s)"):format(mime, coreutils_base64(path))
      assert.are.equal(mime, featurebase.sniff_image(bytes))
      assert.are.equal(want, featurebase.image(bytes))
      assert.are.equal(want, featurebase.image(path))
    end)
  end

  it("escapes the alt text and takes a MIME type when told", function()
    local md = featurebase.image(DIR .. "tiny.png", { alt = "a [red]\nand \\ blue" })
    assert.matches("^!%[a \\%[red\\%] and \\\\ blue%]%(data:image/png;base64,", md)
    md = featurebase.image(DIR .. "tiny.png", { mime = "image/x-portable" })
    assert.matches("^!%[%]%(data:image/x%-portable;base64,", md)
    local _, err = featurebase.image(DIR .. "tiny.png", { mime = "text/html" })
    assert.are.same({ "invalid_request", "mime" }, { err.kind, err.field })
  end)

  it("sniffs SVG after a BOM, a declaration, comments and a doctype, and nothing else", function()
    assert.are.equal("image/svg+xml", featurebase.sniff_image("\239\187\191  <!DOCTYPE svg PUBLIC \"x\">\n<svg/>"))
    assert.are.equal("image/svg+xml", featurebase.sniff_image("<svg xmlns='http://www.w3.org/2000/svg'></svg>"))
    assert.is_nil(featurebase.sniff_image("<html><svg></svg></html>"))
    assert.is_nil(featurebase.sniff_image("<svgfoo>"))
    assert.is_nil(featurebase.sniff_image("RIFF\0\0\0\0WAVE"))
    assert.is_nil(featurebase.sniff_image("GIF90a"))
  end)

  it("refuses what it cannot name, with the reason", function()
    local _, err = featurebase.image("BM\0\0 a bitmap")
    assert.are.same({ "invalid_request", "image" }, { err.kind, err.field })
    assert.are.equal("featurebase: invalid_request: image is not PNG, JPEG, GIF, WebP or SVG; pass opts.mime "
      .. "to say what it is", tostring(err))
    assert.is_true(featurebase.is_error(err))
    _, err = featurebase.image("/nonexistent/cat.png")
    assert.are.same({ "io", "path" }, { err.kind, err.field })
    assert.matches("cannot read image: /nonexistent/cat%.png: No such file", err.message)
    local notes = tmpname()
    write(notes, "plain text")
    _, err = featurebase.image(notes)
    assert.matches("image " .. notes .. " is not PNG", err.message)
    os.remove(notes)
  end)

  it("has a size limit with a clear error, for bytes and for files (before reading them)", function()
    local png = read(DIR .. "tiny.png")
    assert.truthy(featurebase.image(png, { max_bytes = #png }))
    local _, err = featurebase.image(png, { max_bytes = #png - 1 })
    assert.are.same({ "invalid_request", "image" }, { err.kind, err.field })
    assert.are.equal(("image is %d bytes; the limit is %d bytes (opts.max_bytes)"):format(#png, #png - 1),
      err.message)
    local big = tmpname()
    write(big, png .. ("\0"):rep(6 * 1024 * 1024)) -- above the default 5 MiB
    _, err = featurebase.image(big)
    assert.are.equal(("image %s is %d bytes; the limit is %d bytes (opts.max_bytes)")
      :format(big, #png + 6 * 1024 * 1024, 5 * 1024 * 1024), err.message)
    assert.matches("^!%[%]%(data:image/png;base64,", featurebase.image(big, { max_bytes = 7 * 1024 * 1024 }))
    os.remove(big)
  end)

  it("raises on misuse", function()
    assert.has_error(function() featurebase.image(42) end,
      "bad argument #1 to 'image' (file path or image bytes expected, got number)")
    assert.has_error(function() featurebase.image("x.png", "cat") end,
      "bad argument #2 to 'image' (table of options expected, got string)")
    assert.has_error(function() featurebase.image("x.png", { size = 1 }) end,
      "bad argument #2 to 'image' (size: alt and mime are strings, max_bytes a number)")
  end)

  it("reaches the server intact inside a message", function()
    local srv = H.server()
    local client = H.client(srv)
    local md = "Here is the screenshot:\n\n" .. assert(featurebase.image(DIR .. "tiny.jpg", { alt = "screenshot" }))
    local conv = assert(client:start_conversation(H.CONTACT, md))
    local reqs = srv:requests()
    assert.are.equal(md, reqs[#reqs].json.bodyMarkdown)
    assert.are.equal(md, conv.source.bodyMarkdown)
    client:close()
    srv:stop()
  end)
end)

describe("core.base64", function()
  it("matches coreutils for every length around the padding cases and every byte value", function()
    local path = tmpname()
    math.randomseed(7)
    for n = 0, 70 do
      local t = {}
      for i = 1, n do t[i] = string.char(math.random(0, 255)) end
      local s = table.concat(t)
      write(path, s)
      assert.are.equal(coreutils_base64(path), core.base64(s), "length " .. n)
    end
    local all = {}
    for b = 0, 255 do all[#all + 1] = string.char(b) end
    write(path, table.concat(all):rep(4000)) -- about 1 MB
    assert.are.equal(coreutils_base64(path), core.base64(table.concat(all):rep(4000)))
    os.remove(path)
  end)

  it("raises on a non-string", function()
    assert.has_error(function() core.base64({}) end)
  end)
end)
