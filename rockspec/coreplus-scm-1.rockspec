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
-- lua-cjson comes from Debian (lua-cjson) or LuaRocks; offline builds use
-- --deps-mode=none because Debian's packages are not known to LuaRocks.
dependencies = { "lua >= 5.1", "lua-cjson" }
external_dependencies = {
  CURL = { library = "curl" },   -- no header=: Debian keeps curl.h under the multiarch dir
  OPENSSL = { header = "openssl/hmac.h", library = "crypto" },
}
build = {
  type = "builtin",
  modules = {
    ["coreplus.core"] = {
      sources = {
        -- MODULE-SOURCES (kept in step with src/*.c by spec/packaging_spec.lua)
        "src/clock.c", "src/clock_lua.c", "src/core.c", "src/defaults.c", "src/defaults_lua.c", "src/error_lua.c", "src/http.c", "src/http_lua.c", "src/http_parse.c", "src/json_lua.c", "src/jwt.c", "src/jwt_lua.c", "src/mime.c", "src/pipeline_lua.c", "src/req_lua.c", "src/sched.c", "src/throttle.c", "src/throttle_file.c", "src/throttle_lua.c", "src/throttle_redis.c", "src/throttle_redis_lua.c", "src/throttle_ring.c",
      },
      libraries = { "curl", "crypto", "hiredis", "yajl", "pthread" },
      incdirs = { "$(CURL_INCDIR)", "$(OPENSSL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(OPENSSL_LIBDIR)" },
      defines = { "_POSIX_C_SOURCE=200809L" },
    },
    -- LUA-MODULES (kept in step with lua/coreplus by spec/packaging_spec.lua)
    ["coreplus.catalogue"] = "lua/coreplus/catalogue.lua",
    ["coreplus.cli.args"] = "lua/coreplus/cli/args.lua",
    ["coreplus.cli.context"] = "lua/coreplus/cli/context.lua",
    ["coreplus.cli.doctor"] = "lua/coreplus/cli/doctor.lua",
    ["coreplus.cli.dryrun"] = "lua/coreplus/cli/dryrun.lua",
    ["coreplus.cli.help"] = "lua/coreplus/cli/help.lua",
    ["coreplus.cli"] = "lua/coreplus/cli/init.lua",
    ["coreplus.cli.lists"] = "lua/coreplus/cli/lists.lua",
    ["coreplus.cli.output"] = "lua/coreplus/cli/output.lua",
    ["coreplus.cli.profiles"] = "lua/coreplus/cli/profiles.lua",
    ["coreplus.cli.progress"] = "lua/coreplus/cli/progress.lua",
    ["coreplus.cli.show"] = "lua/coreplus/cli/show.lua",
    ["coreplus.cli.tokens"] = "lua/coreplus/cli/tokens.lua",
    ["coreplus.cli.writes"] = "lua/coreplus/cli/writes.lua",
    ["coreplus.client"] = "lua/coreplus/client.lua",
    ["coreplus.client_match"] = "lua/coreplus/client_match.lua",
    ["coreplus.config"] = "lua/coreplus/config.lua",
    ["coreplus.dates"] = "lua/coreplus/dates.lua",
    ["coreplus.defaults"] = "lua/coreplus/defaults.lua",
    ["coreplus.engine"] = "lua/coreplus/engine.lua",
    ["coreplus.errors"] = "lua/coreplus/errors.lua",
    ["coreplus.fields"] = "lua/coreplus/fields.lua",
    ["coreplus"] = "lua/coreplus/init.lua",
    ["coreplus.jwt"] = "lua/coreplus/jwt.lua",
    ["coreplus.misuse"] = "lua/coreplus/misuse.lua",
    ["coreplus.pager"] = "lua/coreplus/pager.lua",
    ["coreplus.profile"] = "lua/coreplus/profile.lua",
    ["coreplus.resource"] = "lua/coreplus/resource.lua",
    ["coreplus.retry"] = "lua/coreplus/retry.lua",
    ["coreplus.slots"] = "lua/coreplus/slots.lua",
    ["coreplus.testing.busted"] = "lua/coreplus/testing/busted.lua",
    ["coreplus.testing"] = "lua/coreplus/testing/init.lua",
    ["coreplus.testing.launcher"] = "lua/coreplus/testing/launcher.lua",
    ["coreplus.testing.mock.admin"] = "lua/coreplus/testing/mock/admin.lua",
    ["coreplus.testing.mock.arrivals"] = "lua/coreplus/testing/mock/arrivals.lua",
    ["coreplus.testing.mock.auth"] = "lua/coreplus/testing/mock/auth.lua",
    ["coreplus.testing.mock.billing"] = "lua/coreplus/testing/mock/billing.lua",
    ["coreplus.testing.mock.booking"] = "lua/coreplus/testing/mock/booking.lua",
    ["coreplus.testing.mock.clock"] = "lua/coreplus/testing/mock/clock.lua",
    ["coreplus.testing.mock.conf"] = "lua/coreplus/testing/mock/conf.lua",
    ["coreplus.testing.mock.digest"] = "lua/coreplus/testing/mock/digest.lua",
    ["coreplus.testing.mock.directory"] = "lua/coreplus/testing/mock/directory.lua",
    ["coreplus.testing.mock.faults"] = "lua/coreplus/testing/mock/faults.lua",
    ["coreplus.testing.mock.fixtures"] = "lua/coreplus/testing/mock/fixtures.lua",
    ["coreplus.testing.mock.json"] = "lua/coreplus/testing/mock/json.lua",
    ["coreplus.testing.mock.lock"] = "lua/coreplus/testing/mock/lock.lua",
    ["coreplus.testing.mock.multipart"] = "lua/coreplus/testing/mock/multipart.lua",
    ["coreplus.testing.mock.ratelimit"] = "lua/coreplus/testing/mock/ratelimit.lua",
    ["coreplus.testing.mock.records"] = "lua/coreplus/testing/mock/records.lua",
    ["coreplus.testing.mock.reply"] = "lua/coreplus/testing/mock/reply.lua",
    ["coreplus.testing.mock.resources"] = "lua/coreplus/testing/mock/resources.lua",
    ["coreplus.testing.mock.server"] = "lua/coreplus/testing/mock/server.lua",
    ["coreplus.testing.mock.store"] = "lua/coreplus/testing/mock/store.lua",
    ["coreplus.testing.mock.uploads"] = "lua/coreplus/testing/mock/uploads.lua",
    ["coreplus.testing.nginx"] = "lua/coreplus/testing/nginx.lua",
    ["coreplus.testing.stub"] = "lua/coreplus/testing/stub.lua",
    ["coreplus.transport.curl"] = "lua/coreplus/transport/curl.lua",
    ["coreplus.transport"] = "lua/coreplus/transport/init.lua",
    ["coreplus.transport.ngx"] = "lua/coreplus/transport/ngx.lua",
    ["coreplus.transport.ngx_limiter"] = "lua/coreplus/transport/ngx_limiter.lua",
    ["coreplus.transport.ngx_multipart"] = "lua/coreplus/transport/ngx_multipart.lua",
    ["coreplus.transport.ngx_redis"] = "lua/coreplus/transport/ngx_redis.lua",
    ["coreplus.transport.ngx_sleep"] = "lua/coreplus/transport/ngx_sleep.lua",
    ["coreplus.uploads"] = "lua/coreplus/uploads.lua",
    ["coreplus.url"] = "lua/coreplus/url.lua",
  },
  install = { bin = { "bin/coreplus", "bin/coreplus-mock" } },
}
