rockspec_format = "3.0"
package = "featurebase"
version = "0.1.0-1"
-- The tarball `make dist` builds (build/dist/featurebase-0.1.0.tar.gz), published with the release.
-- `make dist` also packs it with this rockspec into featurebase-0.1.0-1.src.rock, which installs
-- with no network (`luarocks install featurebase-0.1.0-1.src.rock`): see scripts/dist.sh.
source = {
  url = "https://github.com/featurebase-lua/featurebase-lua/releases/download/v0.1.0/featurebase-0.1.0.tar.gz",
  dir = "featurebase-0.1.0",
}
description = {
  summary = "Featurebase conversations API for Lua: create and reply, validated in C, over libcurl",
  detailed = [[
    Create Featurebase conversations (contact-initiated, admin in-app or email outreach) and reply to
    them (contact replies, admin replies, internal notes) from Lua 5.1-5.4 and LuaJIT. Every rule of
    the API is checked in C before anything is sent; HTTP is libcurl with keep-alive; responses are
    decoded with lua-cjson. Needs libcurl 7.61.0 or newer (its headers to build).
  ]],
  homepage = "https://github.com/featurebase-lua/featurebase-lua",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson >= 2.1.0",
}
-- libcurl >= 7.61.0. Only the library is looked up: LuaRocks searches lib/<multiarch> for it, but
-- for headers only <prefix>/include, and Debian keeps curl/curl.h in /usr/include/<multiarch>,
-- which the C compiler searches by itself. CURL_DIR / CURL_INCDIR still point elsewhere when needed.
external_dependencies = {
  CURL = { library = "curl" },
  OPENSSL = { header = "openssl/hmac.h", library = "crypto" }, -- HMAC-SHA256 for webhook signatures
}
build = {
  type = "builtin",
  modules = {
    ["featurebase.core"] = {
      sources = {
        "src/fb_base64.c", "src/fb_buf.c", "src/fb_client.c", "src/fb_core.c", "src/fb_decode.c",
        "src/fb_error.c", "src/fb_file.c", "src/fb_http.c", "src/fb_multi.c", "src/fb_validate.c",
        "src/fb_webhook.c", "src/fb_api.c", "src/fb_net.c",
      },
      libraries = { "curl", "crypto" },
      incdirs = { "$(CURL_INCDIR)", "$(OPENSSL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(OPENSSL_LIBDIR)" },
    },
    featurebase = "lua/featurebase.lua",
    ["featurebase.core_loader"] = "lua/featurebase/core_loader.lua",
    ["featurebase.env"] = "lua/featurebase/env.lua",
    ["featurebase.client"] = "lua/featurebase/client.lua",
    ["featurebase.options"] = "lua/featurebase/options.lua",
    ["featurebase.retry"] = "lua/featurebase/retry.lua",
    ["featurebase.pacer"] = "lua/featurebase/pacer.lua",
    ["featurebase.helpers"] = "lua/featurebase/helpers.lua",
    ["featurebase.import"] = "lua/featurebase/import.lua",
    ["featurebase.async"] = "lua/featurebase/async.lua",
    ["featurebase.nvim"] = "lua/featurebase/nvim.lua",
    ["featurebase.testing"] = "lua/featurebase/testing.lua",
    ["featurebase.testing.server"] = "lua/featurebase/testing/server.lua",
    ["featurebase.testing.common"] = "lua/featurebase/testing/common.lua",
    ["featurebase.testing.conversations"] = "lua/featurebase/testing/conversations.lua",
    ["featurebase.testing.contacts"] = "lua/featurebase/testing/contacts.lua",
    ["featurebase.openresty"] = "lua/featurebase/openresty.lua",
    ["featurebase.webhooks"] = "lua/featurebase/webhooks.lua",
    -- LuaLS definitions (editor completion; never required): installed so that a rocks tree's
    -- share/lua/<version>/ in LuaLS's workspace.library finds them
    ["featurebase.types.objects"] = "lua/featurebase/types/objects.lua",
    ["featurebase.types.api"] = "lua/featurebase/types/api.lua",
  },
}
test = {
  type = "command",
  command = "make test",
}
