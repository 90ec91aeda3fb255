-- The reference's Markdown formatter, loaded by LDoc (config.ld: format =
-- "ldoc_discount"; mk/docs.mk puts docs/ref/ on LDoc's LUA_PATH). It is
-- lua-discount without SmartyPants: LDoc turns `code` into <code> before the
-- Markdown pass, and SmartyPants would then print `--plain` with an en dash.
local discount = require "discount"

return function(text)
  return discount.to_html(text, "nopants")
end
