--- The Prometheus text exposition format, version 0.0.4: flat maps
-- (coreplus.metrics.registry) in, text out.
--
--   exposition.render(flat) -> text     every family of coreplus.metrics.families
--   exposition.merge(into, flat)        adds flat to into (gauges: the last one)
--   exposition.split(key) -> name, labels, field
--
-- Each family is written once, HELP and TYPE first, its series in the
-- order of their labels; a histogram's buckets in increasing order, then
-- +Inf, _sum and _count, as the format asks.
local families = require "coreplus.metrics.families"

local pairs = pairs
local ipairs = ipairs
local type = type
local floor = math.floor
local huge = math.huge
local format = string.format
local concat = table.concat
local sort = table.sort

local _M = {}

_M.CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

--- A sample value: integers as integers, floats to 15 digits, +Inf, -Inf, NaN.
local function number(v)
  if v ~= v then return "NaN" end
  if v == huge then return "+Inf" end
  if v == -huge then return "-Inf" end
  if v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return format("%d", v) end
  return format("%.15g", v)
end
_M.number = number

function _M.split(key)
  return key:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
end
local split = _M.split

function _M.merge(into, flat)
  for key, v in pairs(flat) do
    local def = families.by_name[split(key)]
    if def and def.type == "gauge" then
      into[key] = v
    else
      into[key] = (into[key] or 0) + v
    end
  end
  return into
end

-- HELP text: backslash and newline escaped.
local function help(text)
  return (text:gsub("[\\\n]", { ["\\"] = "\\\\", ["\n"] = "\\n" }))
end

local function braces(labels)
  return labels == "" and "" or "{" .. labels .. "}"
end

local function with_le(labels, le)
  return "{" .. labels .. (labels == "" and "" or ",") .. 'le="' .. le .. '"}'
end

local function write_histogram(out, def, labels, fields)
  local name = def.name
  for i, bound in ipairs(def.buckets) do
    out[#out + 1] = name .. "_bucket" .. with_le(labels, number(bound)) .. " "
      .. number(fields[format("b%02d", i)] or 0)
  end
  local count = fields.count or 0
  out[#out + 1] = name .. "_bucket" .. with_le(labels, "+Inf") .. " " .. number(count)
  out[#out + 1] = name .. "_sum" .. braces(labels) .. " " .. number(fields.sum or 0)
  out[#out + 1] = name .. "_count" .. braces(labels) .. " " .. number(count)
end

--- render(flat) -> the text of every family that has a series.
function _M.render(flat)
  local grouped = {}   -- name -> labels -> field -> value
  for key, v in pairs(flat) do
    local name, labels, field = split(key)
    if name and families.by_name[name] and type(v) == "number" then
      local by_labels = grouped[name]
      if not by_labels then by_labels = {}; grouped[name] = by_labels end
      local fields = by_labels[labels]
      if not fields then fields = {}; by_labels[labels] = fields end
      fields[field] = v
    end
  end
  local out = {}
  for _, def in ipairs(families.list) do
    local by_labels = grouped[def.name] or {}
    local order = {}
    for labels in pairs(by_labels) do order[#order + 1] = labels end
    sort(order)
    if #order > 0 then
      out[#out + 1] = "# HELP " .. def.name .. " " .. help(def.help)
      out[#out + 1] = "# TYPE " .. def.name .. " " .. def.type
    end
    for _, labels in ipairs(order) do
      local fields = by_labels[labels]
      if def.type == "histogram" then
        write_histogram(out, def, labels, fields)
      else
        out[#out + 1] = def.name .. braces(labels) .. " " .. number(fields[""] or 0)
      end
    end
  end
  if #out == 0 then return "" end
  out[#out + 1] = ""
  return concat(out, "\n")
end

return _M
