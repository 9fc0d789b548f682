-- vestibule: one room's waiting-room state in Redis. Every store decision
-- is one call of this script, so each is atomic and the cap is exact across
-- every instance sharing the Redis. It mirrors src/store/memory.rs (the
-- reference implementation; the same test suite runs against both).
--
-- KEYS (all share the room's hash tag, so one Redis Cluster slot):
--   1 meta     HASH  epoch issued admitted pstart paused cap rate btok blast notice mode,
--                    and an event's draw: dev (its opens_at), dlo, at the
--                    opening dop ('hi:k0:k1'), once drawn dn (size), dk0 dk1
--                    (key halves); nev nlo nop: a pre-queue that began while
--                    that block was still being let in
--   2 sess     ZSET  confirmed sessions, score = last seen
--   3 prov     ZSET  provisional sessions (direct, not yet back), score = last seen
--   4 resv     ZSET  reserved slots, score = claim deadline
--   5 ret      ZSET  late returners, score = ticket (order)
--   6 retdl    HASH  returner -> deadline
--   7 lapsed   ZSET  lapsed tickets that may still return, score = until
--   8 revoked  ZSET  sessions released early, score = until
--   9 mwords   ZSET  indexes of non-empty check-in words, score = index
--  10 mbits    HASH  word index -> 32 check-in bits (as a signed integer)
--  11 log      ZSET  issued count, score = first time it was seen
--  12 ends     ZSET  sessions admitted under a max_session, score = when each ends
-- ARGV: op, now, capacity, rate (-1 = none), session ttl, claim grace,
--   check-in window, tick, epoch for a new room, idle expiry, the file's
--   mode (q queue, p passthrough, c closed, w an event's pre-queue: tickets
--   and nobody admitted), max session (0 = none), the schedule's draw
--   ('' or 'event:k0:k1', see src/store/draw.rs), then op args.
-- Numbers travel as decimal strings: Lua numbers are doubles, exact for
-- times in ms and ticket numbers below 2^53.

local K_META, K_SESS, K_PROV, K_RESV, K_RET, K_RETDL, K_LAPSED, K_REVOKED, K_MWORDS, K_MBITS, K_LOG =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local K_ENDS = KEYS[12]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local cfg_cap = tonumber(ARGV[3])
local cfg_rate = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local grace = tonumber(ARGV[6])
local window = tonumber(ARGV[7])
local tick_ms = tonumber(ARGV[8])
local idle = tonumber(ARGV[10])
local cfg_mode = ARGV[11]
local max_session = tonumber(ARGV[12])

local function I(x) return string.format('%d', x) end

if redis.call('HSETNX', K_META, 'epoch', ARGV[9]) == 1 then
  redis.call('HSET', K_META, 'issued', '0', 'admitted', '0')
end
local m = redis.call('HMGET', K_META, 'epoch', 'issued', 'admitted', 'paused', 'cap', 'rate', 'btok', 'blast', 'mode',
  'dev', 'dlo', 'dn', 'dk0', 'dk1', 'dop', 'nev', 'nlo', 'nop')
local epoch = tonumber(m[1])
local issued = tonumber(m[2]) or 0
local admitted = tonumber(m[3]) or 0
local paused = m[4] == '1'
local ov_cap = m[5] or ''
local ov_rate = m[6] or ''
local ov_mode = m[9] or ''

-- The fair draw (src/store/draw.rs, which this mirrors exactly): a keyed
-- Feistel permutation of a pre-queue's block of tickets, in 32-bit
-- arithmetic on doubles. bit.* return signed 32-bit values: u32 brings
-- them back to 0 .. 2^32-1.
local TWO32 = 4294967296
local DRAW_ROUNDS = 8
local DRAW_MAX = TWO32
local SCAN_PER_TICK = 1024
local function u32(x) return x % TWO32 end
-- (a * c) mod 2^32, exact: every partial product stays below 2^53.
local function mul32(a, c)
  local alo = a % 65536
  local ahi = (a - alo) / 65536
  return (alo * c + ((ahi * (c % 65536)) % 65536) * 65536) % TWO32
end
local function mix(x)
  x = u32(bit.bxor(x, bit.rshift(x, 16)))
  x = mul32(x, 0x7feb352d)
  x = u32(bit.bxor(x, bit.rshift(x, 15)))
  x = mul32(x, 0x846ca68b)
  return u32(bit.bxor(x, bit.rshift(x, 16)))
end

-- The current record (draw_*; `draw` once drawn) and the next (next_*),
-- as DrawRecord in src/store/memory.rs. Absent fields read as false.
local draw_ev, draw_lo, draw_op = m[10], tonumber(m[11]), m[15]
local next_ev, next_lo, next_op = m[16], tonumber(m[17]), m[18]
local draw = nil -- the drawn block: lo, n, and (once used) the network
if m[12] then
  draw = {lo = tonumber(m[11]), n = tonumber(m[12]), k0 = tonumber(m[13]), k1 = tonumber(m[14])}
end
local function network(d)
  if not d.keys then
    local bits, v = 0, d.n - 1
    while v > 0 do bits = bits + 1; v = math.floor(v / 2) end
    d.half = math.max(1, math.ceil(bits / 2))
    d.m = 2 ^ d.half
    d.keys = {}
    for i = 0, DRAW_ROUNDS - 1 do
      local k = d.k0
      if i % 2 == 1 then k = d.k1 end
      d.keys[i + 1] = u32(bit.bxor(k, mul32(i + 1, 0x9e3779b9)))
    end
  end
  return d
end
local function draw_walk(d, x, forward)
  network(d)
  repeat
    local l, r = math.floor(x / d.m), x % d.m
    if forward then
      for i = 1, DRAW_ROUNDS do
        l, r = r, bit.bxor(l, mix(u32(r + d.keys[i])) % d.m)
      end
    else
      for i = DRAW_ROUNDS, 1, -1 do
        l, r = bit.bxor(r, mix(u32(l + d.keys[i])) % d.m), l
      end
    end
    x = l * d.m + r
  until x < d.n
  return x
end
local function in_block(d, k) return d ~= nil and k > d.lo and k <= d.lo + d.n end
-- Ticket t's place in the line's order; and the ticket at order k.
local function order(t)
  if in_block(draw, t) then return draw.lo + 1 + draw_walk(draw, t - draw.lo - 1, true) end
  return t
end
local function ticket_at(k)
  if in_block(draw, k) then return draw.lo + 1 + draw_walk(draw, k - draw.lo - 1, false) end
  return k
end
-- The drawn block the pointer has not passed, or nil.
local function active_draw()
  if draw and draw.n > 0 and admitted < draw.lo + draw.n then return draw end
  return nil
end

-- Operator overrides replace the configured values. Only a room in queue
-- mode, not paused, admits anyone (admitting).
local cap, rate, admitting, closed
local function apply_overrides()
  cap = tonumber(ov_cap) or cfg_cap
  rate = cfg_rate
  local mode = cfg_mode
  if ov_mode ~= '' then mode = ov_mode end
  admitting = (not paused) and mode == 'q'
  closed = mode == 'c'
  if ov_rate == 'u' then rate = -1 elseif ov_rate ~= '' then rate = tonumber(ov_rate) end
end
apply_overrides()

-- Draws the current record once its doors opened, and hands over to the
-- next one once the current block is through (settle_draws in memory.rs).
local function settle_draws()
  if draw and admitted >= draw.lo + draw.n and next_ev then
    draw_ev, draw_lo, draw_op, draw = next_ev, next_lo, next_op, nil
    redis.call('HSET', K_META, 'dev', draw_ev, 'dlo', I(draw_lo))
    if draw_op then redis.call('HSET', K_META, 'dop', draw_op) else redis.call('HDEL', K_META, 'dop') end
    redis.call('HDEL', K_META, 'dn', 'dk0', 'dk1', 'nev', 'nlo', 'nop')
    next_ev, next_lo, next_op = false, nil, false
  end
  if draw_ev and not draw and draw_op then
    -- An operator who opened the room early let some in already.
    local hi, k0, k1 = string.match(draw_op, '^(%d+):(%d+):(%d+)$')
    local lo = math.max(draw_lo, admitted)
    local n = math.min(math.max(tonumber(hi) - lo, 0), DRAW_MAX)
    redis.call('HSET', K_META, 'dlo', I(lo), 'dn', I(n), 'dk0', k0, 'dk1', k1)
    draw = {lo = lo, n = n, k0 = tonumber(k0), k1 = tonumber(k1)}
  end
end

-- Follows the schedule's draw (follow_draw in memory.rs, step for step):
-- notes where an event's pre-queue starts, and fixes its extent and key
-- at the opening.
local spec_ev, spec_k0, spec_k1 = string.match(ARGV[13], '^(%d+):(%d+):(%d+)$')
if op == 'arrive' or op == 'visit' or op == 'tick' then
  settle_draws()
  if spec_ev and cfg_mode == 'w' then
    local cur_pending = draw_ev and not draw and not draw_op
    if cur_pending or (next_ev and not next_op) then
      -- The pre-queue runs: an opening moved by a reload keeps it.
      if cur_pending then
        redis.call('HSET', K_META, 'dev', spec_ev)
        draw_ev = spec_ev
      else
        redis.call('HSET', K_META, 'nev', spec_ev)
        next_ev = spec_ev
      end
    elseif draw_ev == spec_ev or next_ev == spec_ev then
      -- Opened already (another instance's clock is ahead).
    elseif active_draw() then
      -- The last block is still being let in: this one waits its turn.
      if not next_ev then
        redis.call('HSET', K_META, 'nev', spec_ev, 'nlo', I(issued))
        next_ev, next_lo = spec_ev, issued
      end
    else
      redis.call('HSET', K_META, 'dev', spec_ev, 'dlo', I(issued))
      redis.call('HDEL', K_META, 'dn', 'dk0', 'dk1', 'dop')
      draw_ev, draw_lo, draw_op, draw = spec_ev, issued, false, nil
    end
  elseif spec_ev then
    local opened = I(issued) .. ':' .. spec_k0 .. ':' .. spec_k1
    if draw_ev == spec_ev and not draw and not draw_op then
      redis.call('HSET', K_META, 'dop', opened)
      draw_op = opened
    end
    if next_ev == spec_ev and not next_op then
      redis.call('HSET', K_META, 'nop', opened)
      next_op = opened
    end
    settle_draws()
  end
end

-- A session begins: under a max_session, it ends that long from now,
-- whatever the limits later say.
local function began(s)
  if max_session > 0 then redis.call('ZADD', K_ENDS, 'NX', I(now + max_session), s) end
end

-- Ends session s as a release does; the number of entries it had (0: none).
local function end_session(s)
  local n = redis.call('ZREM', K_SESS, s) + redis.call('ZREM', K_PROV, s)
  redis.call('ZREM', K_ENDS, s)
  if n > 0 then
    -- A cookie refreshed just before this passes cached checks for half a TTL.
    redis.call('ZADD', K_REVOKED, I(now + math.floor(ttl / 2) + 1), s)
  end
  return n
end

-- Whether session s has run its max_session: it is then ended.
local function outlived(s)
  local e = redis.call('ZSCORE', K_ENDS, s)
  if (not e) or tonumber(e) > now then return false end
  end_session(s)
  return true
end

local function used()
  return redis.call('ZCARD', K_SESS) + redis.call('ZCARD', K_PROV) + redis.call('ZCARD', K_RESV)
end

-- Token bucket: refilled at `rate` per minute, holding one tick's worth plus one.
local btok = tonumber(m[7])
local function budget()
  if rate < 0 then return 1e18 end
  local r = rate / 60000
  local burst = r * tick_ms + 1
  local tok = btok or burst
  local last = tonumber(m[8]) or now
  local dt = now - last
  if dt < 0 then dt = 0 end
  tok = math.min(tok + dt * r, burst)
  btok = tok
  m[8] = now
  redis.call('HSET', K_META, 'btok', string.format('%.17g', tok), 'blast', I(now))
  return math.floor(tok)
end
local function spend(n)
  if rate >= 0 and n > 0 then
    btok = (btok or 0) - n
    redis.call('HSET', K_META, 'btok', string.format('%.17g', btok))
  end
end

-- Check-in marks: one bit per ticket beyond the pointer; empty words absent.
local function mark(t)
  local w = I(math.floor(t / 32))
  local old = tonumber(redis.call('HGET', K_MBITS, w)) or 0
  redis.call('HSET', K_MBITS, w, I(bit.bor(old, bit.lshift(1, t % 32))))
  redis.call('ZADD', K_MWORDS, w, w)
end
local function unmark(t)
  local w = I(math.floor(t / 32))
  local old = tonumber(redis.call('HGET', K_MBITS, w)) or 0
  local new = bit.band(old, bit.bnot(bit.lshift(1, t % 32)))
  if new == 0 then
    redis.call('HDEL', K_MBITS, w)
    redis.call('ZREM', K_MWORDS, w)
  else
    redis.call('HSET', K_MBITS, w, I(new))
  end
end
local function lowest(bits, from)
  for k = from, 31 do
    if bit.band(bits, bit.lshift(1, k)) ~= 0 then return k end
  end
  return nil
end
-- Smallest checked-in ticket >= from, or nil.
local function next_marked(from)
  local w = math.floor(from / 32)
  local bits = tonumber(redis.call('HGET', K_MBITS, I(w)))
  if bits then
    local k = lowest(bits, from % 32)
    if k then return w * 32 + k end
  end
  local nxt = redis.call('ZRANGEBYSCORE', K_MWORDS, '(' .. I(w), '+inf', 'LIMIT', 0, 1)
  if #nxt == 0 then return nil end
  return tonumber(nxt[1]) * 32 + lowest(tonumber(redis.call('HGET', K_MBITS, nxt[1])), 0)
end

-- Highest ticket issued at or before now - window.
local function cleared()
  local cutoff = now - window
  if cutoff < 0 then return 0 end
  local r = redis.call('ZREVRANGEBYSCORE', K_LOG, I(cutoff), '-inf', 'LIMIT', 0, 1)
  if #r == 0 then return 0 end
  return tonumber(r[1])
end

local function notice_override()
  local n = redis.call('HGET', K_META, 'notice')
  if n then return '=' .. n end
  return ''
end

local function snapshot()
  local c = cleared()
  local words = {}
  -- Marks past the pointer, and the whole of a drawn block it has not
  -- passed (its checked-in tickets are scattered over its places).
  local block = active_draw()
  local from = admitted
  if block then from = math.min(block.lo, admitted) end
  if c > from then
    local ws = redis.call('ZRANGEBYSCORE', K_MWORDS, I(math.floor((from + 1) / 32)), I(math.floor(c / 32)))
    local i = 1
    while i <= #ws do
      local chunk = {}
      for j = i, math.min(i + 999, #ws) do chunk[#chunk + 1] = ws[j] end
      local bits = redis.call('HMGET', K_MBITS, unpack(chunk))
      for j = 1, #chunk do
        words[#words + 1] = chunk[j]
        words[#words + 1] = bits[j] or '0'
      end
      i = i + 1000
    end
  end
  return {
    I(epoch), I(issued), I(admitted),
    I(redis.call('ZCARD', K_SESS) + redis.call('ZCARD', K_PROV)),
    I(redis.call('ZCARD', K_RESV)), I(redis.call('ZCARD', K_RET)), I(c),
    paused and '1' or '0', ov_cap, ov_rate,
    words, redis.call('ZRANGE', K_REVOKED, 0, -1),
    -- The notice override: '' for none, '=' and the text for one (which
    -- may be empty: no notice).
    notice_override(),
    ov_mode,
    -- The drawn block the pointer has not passed: lo, size, key halves.
    block and {I(block.lo), I(block.n), I(block.k0), I(block.k1)} or {},
  }
end

if op == 'arrive' then
  local nobody_waiting = issued == admitted and redis.call('ZCARD', K_RET) == 0
  if admitting and nobody_waiting and used() < cap and budget() >= 1 then
    spend(1)
    issued = issued + 1
    admitted = issued
    redis.call('HSET', K_META, 'issued', I(issued), 'admitted', I(admitted))
    redis.call('ZADD', K_PROV, I(now), I(issued))
    began(I(issued))
    return {'direct', I(issued), I(epoch)}
  end
  issued = issued + 1
  redis.call('HSET', K_META, 'issued', I(issued))
  return {'queued', I(issued), I(admitted), I(epoch)}

elseif op == 'visit' then
  local t = tonumber(ARGV[14])
  if t == 0 or t > issued then return {'unknown', I(epoch)} end
  if order(t) > admitted then
    mark(t)
    return {'waiting', I(admitted), I(epoch)}
  end
  local ts = I(t)
  if outlived(ts) then return {'unknown', I(epoch)} end
  if redis.call('ZSCORE', K_SESS, ts) or redis.call('ZREM', K_PROV, ts) == 1 then
    redis.call('ZADD', K_SESS, I(now), ts)
    return {'already', I(epoch)}
  end
  if redis.call('ZREM', K_RESV, ts) == 1 then
    redis.call('ZADD', K_SESS, I(now), ts)
    began(ts)
    return {'claimed', I(epoch)}
  end
  -- Only a ticket whose reservation lapsed may come back late.
  if not redis.call('ZSCORE', K_RET, ts) and redis.call('ZREM', K_LAPSED, ts) == 0 then
    return {'unknown', I(epoch)}
  end
  local first = redis.call('ZRANGE', K_RET, 0, 0)[1]
  if admitting and used() < cap and (first == nil or first == ts) and budget() >= 1 then
    spend(1)
    redis.call('ZREM', K_RET, ts)
    redis.call('HDEL', K_RETDL, ts)
    redis.call('ZADD', K_SESS, I(now), ts)
    began(ts)
    return {'claimed', I(epoch)}
  end
  -- Returners go in the line's order.
  local at = I(order(t))
  redis.call('ZADD', K_RET, at, ts)
  redis.call('HSET', K_RETDL, ts, I(now + grace))
  return {'returner', I(redis.call('ZCOUNT', K_RET, '-inf', '(' .. at)), I(epoch)}

elseif op == 'touch' then
  local s = ARGV[14]
  if outlived(s) then return 0 end
  if redis.call('ZSCORE', K_SESS, s) or redis.call('ZREM', K_PROV, s) == 1 then
    redis.call('ZADD', K_SESS, I(now), s)
    return 1
  end
  -- A session cookie for a number still reserved claims the reservation:
  -- the holder of the cookie is the holder of the ticket.
  if redis.call('ZREM', K_RESV, s) == 1 then
    redis.call('ZADD', K_SESS, I(now), s)
    began(s)
    return 1
  end
  return 0

elseif op == 'release' then
  if end_session(ARGV[14]) > 0 then return 1 end
  return 0

elseif op == 'tick' then
  -- One advance per tick period across every instance: the first to
  -- arrive claims the period; the others only read.
  -- Claimed by its start time, not its index: a changed tick length
  -- must not compare indexes of different lengths.
  local start = math.floor(now / tick_ms) * tick_ms
  local last = tonumber(redis.call('HGET', K_META, 'pstart')) or -1
  if start <= last then
    return {'skip', snapshot()}
  end
  redis.call('HSET', K_META, 'pstart', I(start))

  local expired_sessions = 0
  for _, idle_out in ipairs({{K_SESS, now - ttl}, {K_PROV, now - math.min(grace, ttl)}}) do
    local gone = redis.call('ZRANGEBYSCORE', idle_out[1], '-inf', I(idle_out[2]))
    for i = 1, #gone, 1000 do
      local chunk = {unpack(gone, i, math.min(i + 999, #gone))}
      redis.call('ZREM', idle_out[1], unpack(chunk))
      redis.call('ZREM', K_ENDS, unpack(chunk))
    end
    expired_sessions = expired_sessions + #gone
  end
  local outlived_sessions = 0
  for _, s in ipairs(redis.call('ZRANGEBYSCORE', K_ENDS, '-inf', I(now))) do
    if end_session(s) > 0 then outlived_sessions = outlived_sessions + 1 end
  end
  local until_ = I(now + ttl)
  if closed then
    -- Closed, the line keeps its places: reserved slots, returners' and
    -- lapsed tickets' claims are held until it opens, and run from then.
    local hold = I(now + grace)
    for _, t in ipairs(redis.call('ZRANGEBYSCORE', K_RESV, '-inf', '(' .. hold)) do
      redis.call('ZADD', K_RESV, hold, t)
    end
    for _, t in ipairs(redis.call('ZRANGE', K_RET, 0, -1)) do
      local d = tonumber(redis.call('HGET', K_RETDL, t))
      if d == nil or d < now + grace then redis.call('HSET', K_RETDL, t, hold) end
    end
    for _, t in ipairs(redis.call('ZRANGEBYSCORE', K_LAPSED, '-inf', '(' .. until_)) do
      redis.call('ZADD', K_LAPSED, until_, t)
    end
  end
  local expired_resv = 0
  for _, t in ipairs(redis.call('ZRANGEBYSCORE', K_RESV, '-inf', I(now))) do
    redis.call('ZREM', K_RESV, t)
    redis.call('ZADD', K_LAPSED, until_, t)
    expired_resv = expired_resv + 1
  end
  for _, t in ipairs(redis.call('ZRANGE', K_RET, 0, -1)) do
    local d = tonumber(redis.call('HGET', K_RETDL, t))
    if d == nil or d <= now then
      redis.call('ZREM', K_RET, t)
      redis.call('HDEL', K_RETDL, t)
      redis.call('ZADD', K_LAPSED, until_, t)
      expired_resv = expired_resv + 1
    end
  end
  redis.call('ZREMRANGEBYSCORE', K_LAPSED, '-inf', I(now))
  redis.call('ZREMRANGEBYSCORE', K_REVOKED, '-inf', I(now))

  redis.call('ZADD', K_LOG, 'NX', I(now), I(issued))
  local cutoff = now - window
  local keep = redis.call('ZREVRANGEBYSCORE', K_LOG, I(cutoff), '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #keep == 2 then
    redis.call('ZREMRANGEBYSCORE', K_LOG, '-inf', '(' .. keep[2])
  end
  local c = cleared()

  local free = cap - used()
  if free < 0 then free = 0 end
  local allow = 0
  if admitting then allow = math.min(free, budget()) end
  local n = 0
  local deadline = I(now + grace)
  -- Returners are behind the pointer already: they go first.
  while allow > 0 do
    local r = redis.call('ZRANGE', K_RET, 0, 0)
    if #r == 0 then break end
    redis.call('ZREM', K_RET, r[1])
    redis.call('HDEL', K_RETDL, r[1])
    redis.call('ZADD', K_RESV, deadline, r[1])
    allow = allow - 1
    n = n + 1
  end
  -- Then the line, in its order (ticket order, but for a drawn block),
  -- skipping runs of presumed-dead tickets.
  local block = active_draw()
  local scanned = 0
  -- A pre-queue waiting for the block before it to be through is not
  -- walked in arrival order.
  local stop = issued
  if next_ev then stop = math.min(issued, next_lo) end
  while admitted < stop do
    local nx = admitted + 1
    if in_block(block, nx) then
      -- The ticket drawn for this place: one at a time.
      local t = ticket_at(nx)
      local bits = tonumber(redis.call('HGET', K_MBITS, I(math.floor(t / 32)))) or 0
      if bit.band(bits, bit.lshift(1, t % 32)) ~= 0 then
        if allow == 0 then break end
        unmark(t)
        redis.call('ZADD', K_RESV, deadline, I(t))
        allow = allow - 1
        n = n + 1
      elseif t > c or scanned == SCAN_PER_TICK then
        break
      else
        scanned = scanned + 1
      end
      admitted = nx
    else
      local mk = next_marked(nx)
      if mk == nx then
        if allow == 0 then break end
        unmark(nx)
        redis.call('ZADD', K_RESV, deadline, I(nx))
        admitted = nx
        allow = allow - 1
        n = n + 1
      elseif nx > c then
        break
      else
        local e = math.min(c, issued)
        if mk then e = math.min(e, mk - 1) end
        if block and nx <= block.lo then e = math.min(e, block.lo) end
        admitted = math.min(e, stop)
      end
    end
  end
  spend(n)
  redis.call('HSET', K_META, 'admitted', I(admitted))
  -- A room nobody uses for this long disappears on its own.
  for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], I(idle)) end
  return {'ticked', I(expired_sessions), I(expired_resv), I(n), I(outlived_sessions), snapshot()}

elseif op == 'snapshot' then
  return {'snapshot', snapshot()}

elseif op == 'overrides' then
  paused = ARGV[14] == '1'
  ov_cap = ARGV[15]
  ov_rate = ARGV[16]
  redis.call('HSET', K_META, 'paused', paused and '1' or '0')
  if ov_cap == '' then redis.call('HDEL', K_META, 'cap') else redis.call('HSET', K_META, 'cap', ov_cap) end
  if ov_rate == '' then redis.call('HDEL', K_META, 'rate') else redis.call('HSET', K_META, 'rate', ov_rate) end
  -- ARGV[17]: '' for no notice override, '=' and the text for one.
  if ARGV[17] == '' then
    redis.call('HDEL', K_META, 'notice')
  else
    redis.call('HSET', K_META, 'notice', string.sub(ARGV[17], 2))
  end
  ov_mode = ARGV[18]
  if ov_mode == '' then redis.call('HDEL', K_META, 'mode') else redis.call('HSET', K_META, 'mode', ov_mode) end
  apply_overrides()
  return {'snapshot', snapshot()}
end
return redis.error_reply('vestibule: unknown operation ' .. tostring(op))
