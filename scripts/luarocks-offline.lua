-- LuaRocks config for building offline against Debian's packages: no rock server, and lua-cjson
-- counted as present (apt's lua-cjson is not a rock LuaRocks knows about).
rocks_servers = {}
rocks_provided = { ["lua-cjson"] = "2.1.0-1" }
