--- The Lua layer's own defaults, as plain data (no C core needed, so the mock
-- launcher and the mock itself can read them). The defaults shared with the C
-- core (issuer, audience, timeouts, sizes, the limit) are `core.defaults`;
-- coreplus.config merges both into the client's DEFAULTS.
local MAX_PAGE_SIZE = 100   -- the API's documented maximum pageSize

return {
  max_page_size = MAX_PAGE_SIZE,
  version = "v2.1",        -- the API version of catalogue rows that pin none
  retries = 3,             -- attempts after the first, when the rule allows
  backoff = 0.5,           -- seconds, doubled per attempt, jittered
  backoff_max = 8,
  page_size = MAX_PAGE_SIZE,  -- iterators: the maximum, fewest requests per row
  max_upload = 100 * 1024 * 1024,   -- bytes: files and attachments checked before sending
  limit_key = "access_token", -- what one rate budget covers (docs/decisions.md#limit-key-default)
  practice = "default",       -- the metrics' practice label (coreplus.metrics)
}
