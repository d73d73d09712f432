-- luacheck: the Lua code is portable across 5.1-5.4 and LuaJIT; specs run under busted.
std = "max"
max_line_length = 120
-- `not (x > 0)` is deliberate where NaN must fail a check (NaN > 0 and NaN <= 0 are both false).
ignore = { "581" }
files["spec/"] = { std = "+busted", max_line_length = 132 }
files["lua/featurebase/testing/"] = { std = "ngx_lua" }
files["lua/featurebase/openresty.lua"] = { std = "+ngx_lua" }
files["lua/featurebase/webhooks.lua"] = { std = "+ngx_lua" }
files["examples/openresty/"] = { std = "+ngx_lua" }
files["lua/featurebase/nvim.lua"] = { globals = { "vim" } }
files["examples/nvim/"] = { globals = { "vim" } }
files["spec/nvim/"] = { globals = { "vim" } }
exclude_files = { "build/", "fuzz/corpus/" }
-- LuaLS definition files: long annotation lines, and stubs whose arguments are only documented.
files["lua/featurebase/types/"] = { max_line_length = false, unused_args = false, ignore = { "241" } }
