-- next_free is exact: the first free slot at or after `from`, the same as a
-- brute-force scan of every slot of the horizon, over 100 random starts each
-- at the mock and at a server that answers in blocks (one day per request
-- whatever endDate says, contiguous free blocks unsplit when no appointment
-- type is given, practitioner by practitioner rather than by time).
local coreplus = require "coreplus"
local dates = require "coreplus.dates"
local testing = require "coreplus.testing"
local stub_mod = require "coreplus.testing.stub"
local M = dofile("spec/support/mock_http.lua")

local DAY = 86400

-- The earliest free start at or after `from` within `days` among `slots`
-- ({start =, finish =, ...} in unix seconds): a slot's own start, or for a
-- block (untyped) already running at `from`, `from` (the next whole minute).
local function brute(slots, from, days, blocks)
  local best
  local at_from = math.ceil(from / 60) * 60
  for _, s in ipairs(slots) do
    local at
    if s.start >= from then
      at = s.start
    elseif blocks and s.finish > at_from then
      at = at_from
    end
    if at and at <= from + days * DAY and (not best or at < best) then best = at end
  end
  return best
end

local function epoch(slot) return slot and dates.parse(slot.startDateTime).epoch end

describe("next_free against brute force at the mock", function()
  local MONTH = M.future_month()
  local mock, cp, zones, types
  local lists = {}   -- [location][typed] = every slot of the month

  setup(function()
    mock = testing.server{ rate_limit = false, month = MONTH }
    cp = mock:client{ user_agent = "next-free-spec/1.0", rate = 500, shared_limit = false }
    zones = assert(cp.locations:all{})
    types = assert(cp.appointment_types:all{})
    local y, m = MONTH:match("^(%d+)-(%d+)$")
    local first = os.time{ year = tonumber(y), month = tonumber(m), day = 1, hour = 12 }
    for i, loc in ipairs(zones) do
      lists[i] = {}
      for _, typed in ipairs{ false, true } do
        local out = {}
        for _, s in ipairs(assert(cp.availability_slots:all{ timezoneId = loc.timeZone.timezoneId,
          locationId = loc.locationId, appointmentTypeId = typed and types[1].appointmentTypeId or nil,
          startDate = dates.date(first - DAY), endDate = dates.date(first + 27 * DAY) })) do
          out[#out + 1] = { start = dates.parse(s.startDateTime).epoch, finish = dates.parse(s.endDateTime).epoch }
        end
        lists[i][typed] = out
      end
    end
    lists.first = first
  end)
  teardown(function() if mock then mock:stop() end end)

  it("gives the brute-force answer on 100 random starts, typed and untyped", function()
    math.randomseed(27)
    local cut = 0
    for n = 1, 100 do
      local i = math.random(#zones)
      local typed = n % 2 == 0
      local from = lists.first + math.random(0, 18 * DAY)
      local days = math.random(1, 6)
      local slot, err = cp.availability_slots:next_free{ locationId = zones[i].locationId,
        timezoneId = zones[i].timeZone.timezoneId, from = from, days = days,
        appointmentTypeId = typed and types[1].appointmentTypeId or nil }
      assert.is_nil(err)
      local want = brute(lists[i][typed], from, days, not typed)
      assert.equal(want, epoch(slot), ("start %d: from %s, %d days, %s"):format(n, dates.datetime(from), days,
        typed and "typed" or "blocks"))
      if epoch(slot) == math.ceil(from / 60) * 60 then cut = cut + 1 end
    end
    assert.is_true(cut > 0, "no start fell inside a free block")
  end)
end)

describe("next_free against brute force at a server that answers in blocks", function()
  local OFFSET = 600   -- +10:00
  local PRACS = { "P2", "P1" }   -- listed in this order, whatever the times

  -- The server's truth: each practitioner's free blocks on local day d.
  local function busy(p, d)
    local h = (d * 7919 + #p * 104729 + (p == "P1" and 13 or 71)) % 9973
    local list = {}
    for k = 1, h % 4 do
      local s = 9 * 60 + ((h * k * 37) % 28) * 15
      list[#list + 1] = { s, s + 30 + (h * k) % 3 * 15 }
    end
    table.sort(list, function(a, b) return a[1] < b[1] end)
    return list
  end

  local function blocks_of(p, d)
    local wd = (d + 4) % 7   -- 0 = Sunday
    if wd == 0 or wd == 6 or (p == "P2" and wd == 2) then return {} end
    local out, cur = {}, p == "P1" and 9 * 60 or 8 * 60
    local stop = p == "P1" and 17 * 60 or 16 * 60
    for _, b in ipairs(busy(p, d)) do
      if b[1] > cur then out[#out + 1] = { cur, math.min(b[1], stop) } end
      if b[2] > cur then cur = b[2] end
    end
    if stop > cur then out[#out + 1] = { cur, stop } end
    local base = d * DAY - OFFSET * 60
    for k, b in ipairs(out) do out[k] = { start = base + b[1] * 60, finish = base + b[2] * 60, p = p } end
    return out
  end

  local function slots_of(d, typed)
    local out = {}
    for _, p in ipairs(PRACS) do
      for _, b in ipairs(blocks_of(p, d)) do
        if typed then
          local s = b.start
          while s + 1800 <= b.finish do
            out[#out + 1] = { start = s, finish = s + 1800, p = p }
            s = s + 1800
          end
        else
          out[#out + 1] = b
        end
      end
    end
    return out
  end

  local function text(t)
    return (dates.datetime(t, OFFSET):gsub("([+-]%d%d:%d%d)$", " %1"))
  end

  local cp, stub
  setup(function()
    local creds = { consumer_id = "cid", consumer_secret = "secret", access_token = "tok" }
    stub = stub_mod.new(creds)
    stub:on("GET", "AvailabilitySlot/", function(req)
      local t = assert(dates.parse(req.query.startDate))
      local d = math.floor(t.epoch / DAY)   -- the one day it answers, whatever endDate says
      local all = slots_of(d, req.query.appointmentTypeId ~= nil)
      local size = tonumber(req.query.pageSize) or 50
      local number = tonumber(req.query.pageNumber) or 1
      local items = {}
      for k = (number - 1) * size + 1, math.min(#all, number * size) do
        local s = all[k]
        items[#items + 1] = { startDateTime = text(s.start), endDateTime = text(s.finish), practitionerId = s.p }
      end
      return { body = { timeslots = items, paging = { totalRows = #all, pageNumber = number, pageSize = size } } }
    end)
    local o = { base_url = "https://blocks.test", transport = stub, user_agent = "next-free-spec/1.0" }
    for k, v in pairs(creds) do o[k] = v end
    cp = coreplus.new(o)
  end)

  it("gives the brute-force answer on 100 random starts, typed and untyped", function()
    math.randomseed(25)
    local base = math.floor(os.time() / DAY) * DAY + 3 * DAY
    for n = 1, 100 do
      local typed = n % 2 == 0
      local from = base + math.random(0, 30 * DAY)
      local days = math.random(1, 8)
      local truth = {}
      for d = math.floor(from / DAY) - 1, math.floor(from / DAY) + days + 1 do
        for _, s in ipairs(slots_of(d, typed)) do truth[#truth + 1] = s end
      end
      local slot = cp.availability_slots:next_free{ timezoneId = "TZ", from = from, days = days,
        appointmentTypeId = typed and "T30" or nil }
      assert.equal(brute(truth, from, days, not typed), epoch(slot),
        ("start %d: from %s, %d days, %s"):format(n, text(from), days, typed and "typed" or "blocks"))
    end
  end)

  it("asks one day per request, from the day of `from` at the location", function()
    local before = #stub.requests
    -- a Monday 10:07 at +10:00, inside P1's first free block
    local from = assert(dates.parse("2031-03-03T10:07:30+10:00")).epoch
    local slot = assert(cp.availability_slots:next_free{ timezoneId = "TZ",
      from = "2031-03-03T10:07:30+10:00", days = 3 })
    local first = stub.requests[before + 1].query
    assert.equal("2031-03-03", first.startDate)
    assert.equal("2031-03-03", first.endDate)
    local truth = {}
    for d = math.floor(from / DAY), math.floor(from / DAY) + 4 do
      for _, s in ipairs(slots_of(d, false)) do truth[#truth + 1] = s end
    end
    assert.equal(brute(truth, from, 3, true), epoch(slot))
  end)
end)
