rockspec_format = "3.0"
package = "coreplus"
version = "scm-1"
source = { url = "git+https://example.invalid/lua-coreplus.git" }
description = {
  summary = "Client for the coreplus appointment-booking REST API",
  detailed = [[
JWT (HS256) signing and HTTP over libcurl in a small C core, rate limiting that
matches coreplus's 10 requests per second, and a Lua layer with every endpoint,
paging iterators, structured errors and test helpers (a stub transport and a
mock coreplus server on nginx).]],
  license = "MIT",
}
-- Linux only, for now: shared limits rely on robust process-shared mutexes
-- (macOS has none) and the link on a GNU ld script (src/exports.ld). Other
-- systems with both (FreeBSD) may work, untested.
supported_platforms = { "linux" }
-- What the installed code requires: lua-cjson (the library), argparse (the
-- `coreplus` command) and luafilesystem (profiles: a config file's mode is
-- checked before it is read). Debian has them as lua-cjson, lua-argparse and
-- lua-filesystem; offline builds use --deps-mode=none because Debian's
-- packages are not known to LuaRocks.
dependencies = { "lua >= 5.1", "lua-cjson", "argparse", "luafilesystem" }
-- Checked before building, so that a missing one gets LuaRocks's hint (pass
-- NAME_DIR or NAME_INCDIR / NAME_LIBDIR). LuaRocks looks for headers in
-- PREFIX/include only: Debian and Ubuntu keep curl.h in the multiarch
-- directory, so there pass CURL_INCDIR=/usr/include/$(gcc -print-multiarch).
external_dependencies = {
  CURL = { header = "curl/curl.h", library = "curl" },
  OPENSSL = { header = "openssl/hmac.h", library = "crypto" },
  HIREDIS = { header = "hiredis/hiredis.h", library = "hiredis" },
  YAJL = { header = "yajl/yajl_parse.h", library = "yajl" },
}
-- The Makefile builds the rock as it builds everything else (the same
-- warnings, exports and sources; see `rock-build` in the Makefile), with the
-- Lua headers and the libraries' directories LuaRocks found, and no pkg-config.
build = {
  type = "make",
  build_target = "rock-build",
  variables = {   -- for both passes, so that the install pass sees the same build
    CC = "$(CC)", CFLAGS = "$(CFLAGS)", LIBFLAG = "$(LIBFLAG)", LUA_INCDIR = "$(LUA_INCDIR)",
    CURL_INCDIR = "$(CURL_INCDIR)", CURL_LIBDIR = "$(CURL_LIBDIR)",
    OPENSSL_INCDIR = "$(OPENSSL_INCDIR)", OPENSSL_LIBDIR = "$(OPENSSL_LIBDIR)",
    HIREDIS_INCDIR = "$(HIREDIS_INCDIR)", HIREDIS_LIBDIR = "$(HIREDIS_LIBDIR)",
    YAJL_INCDIR = "$(YAJL_INCDIR)", YAJL_LIBDIR = "$(YAJL_LIBDIR)",
  },
  install_target = "rock-install",
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)", INST_LUADIR = "$(LUADIR)", INST_BINDIR = "$(BINDIR)",
  },
  -- nginx/coreplus.conf, for OpenResty: `luarocks show --rock-dir coreplus`/nginx/
  copy_directories = { "nginx" },
}
-- `luarocks test [-- spec files]`: the specs under busted, with the coreplus
-- found on the Lua path (a rock tree after `eval "$(luarocks path)"`). A
-- "busted" test type would install the busted rock first, which fails offline
-- and ignores a busted from the system's packages; scripts/luarocks-test.lua
-- runs busted as a library instead.
test = { type = "command", script = "scripts/luarocks-test.lua" }
