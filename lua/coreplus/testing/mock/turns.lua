--- The worker's turns: a request's heavy part (checking it, building the
-- answer) waits for its turn, so that nginx reads what arrives meanwhile.
--
-- The rate limit and the arrivals log count a request from the moment
-- nginx reads it (`ngx.req.start_time()`), and nginx reads only between
-- turns of its event loop. An nginx worker runs the handlers whose sleep
-- (the latency) ended together one after another, in one turn: ten
-- practices' pages of appointments, 3 ms of Lua each, kept the worker from
-- reading for 40 ms, and requests that had left the client on time were
-- stamped 40 ms late, in a bunch, as if they had come in a burst: 429s that a
-- real server would not send (docs/decisions.md#mock-turns). So a turn does
-- at most `SLICE` seconds of such work (of the worker's CPU), and whatever
-- else wants to run then sleeps for a millisecond, which ends the turn:
-- nginx polls its connections, stamps what arrived, and the next turn goes
-- on with the work. Total work and order stay the same; only the stamps
-- come out right.
--
-- A turn is known by nginx's cached time (`ngx.now()`), which nginx renews
-- each time it polls; the mock renews it itself through `update_time` here,
-- which keeps a turn a turn.
local ngx = ngx

local _M = {}

--- Seconds of the worker's CPU a turn may spend on heavy parts before the
-- rest wait for the next: under the client's margin (25 ms) with room for
-- one more answer, and large enough that a busy mock still spends nearly
-- all its time working.
_M.SLICE = 0.005

--- The CPU clock (seconds); specs replace it.
_M.cpu = os.clock

local turn_at      -- nginx's cached time as this turn saw it (nil: none yet)
local turn_cpu     -- the CPU time at which this turn's first heavy part began

--- ngx.update_time(), for the mock's own clock reads: renewing the cached
-- time here is not a poll, so the turn goes on.
function _M.update_time()
  local same = turn_at ~= nil and ngx.now() == turn_at
  ngx.update_time()
  if same then turn_at = ngx.now() end
end

--- Waits until this request's heavy part may run: at once when nginx has
-- polled since the last heavy part began (a new turn) or the turn has time
-- left; otherwise after the next poll.
function _M.wait()
  while true do
    local t = ngx.now()
    if t ~= turn_at then
      turn_at, turn_cpu = t, _M.cpu()
      return
    end
    if _M.cpu() - turn_cpu < _M.SLICE then return end
    ngx.sleep(0.001)
  end
end

return _M
