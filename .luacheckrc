std = "lua54"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["lua/coreplus/testing/mock"] = { std = "luajit+ngx_lua" }
files["lua/coreplus/transport/ngx.lua"] = { std = "luajit+ngx_lua" }
files["lua/coreplus/transport/ngx_limiter.lua"] = { std = "luajit+ngx_lua" }
files["lua/coreplus/metrics/ngx.lua"] = { std = "luajit+ngx_lua" }
files["examples/openresty"] = { std = "luajit+ngx_lua" }
exclude_files = { "build", ".luarocks" }
files["spec/luajit_load.lua"] = { std = "luajit" }
