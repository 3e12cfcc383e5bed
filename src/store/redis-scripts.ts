/**
 * The Lua behind the Redis LimitStore: one script per operation, so each is atomic and one round
 * trip; admit, settle and release take a batch of calls (each() below) so concurrent requests share a
 * round trip, each call still atomic. Every key a script touches is passed in KEYS (auxiliary keys are the caller's key plus a
 * suffix, so they share its Cluster hash slot). Needs Redis >= 5 (TIME before writes).
 *
 * Quota representation, for a quota key Q:
 *   Q      hash  used = settled spend (absent: the store does not hold the counter),
 *                reserved = running total of live reservations (absent: 0),
 *                epoch = how many times setQuotaUsed set `used` (absent: 0),
 *                k:<id> = the epoch when reservation <id> was booked, for one that counts as spent should it
 *                expire unsettled (a lease's units), unless `used` was set since
 *   Q:r    hash  reservation id -> units
 *   Q:e    zset  reservation id -> expiry (server ms)
 *   Q:s    zset  settled reservation id -> when (server ms), trimmed to the last 10 minutes; kept on the first
 *                quota of a settle (the token's), which names the reservation for all of them
 * A rate-limit key holds its GCRA theoretical arrival time (server ms) and expires once it is past.
 */
import { createHash } from 'node:crypto';

export interface LuaScript {
  source: string;
  sha: string;
}

/** Helpers prepended to every script. */
const PRELUDE = `
-- Redis server time in ms (with the microseconds as a fraction): one clock for every instance.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end

-- Numbers cross the Lua/Redis boundary as round-trip strings: a Lua number returned to Redis is
-- truncated to an integer, and tostring() keeps only 14 digits.
local function fmt(n)
  return string.format('%.17g', n)
end

local function reserved(q)
  return tonumber(redis.call('HGET', q, 'reserved') or '0')
end

-- Stores the running total; once no reservation is left it is exactly 0, so rounding cannot drift.
local function set_reserved(q, r, total)
  if redis.call('EXISTS', r) == 0 or total == 0 then
    redis.call('HDEL', q, 'reserved')
  else
    redis.call('HSET', q, 'reserved', fmt(total))
  end
end

-- Drops the reservations that have expired and gives their units back, or, for a lease's booked since the
-- counter was last set, counts them as spent.
local function sweep(q, r, e, now)
  local expired = redis.call('ZRANGEBYSCORE', e, '-inf', fmt(now))
  if #expired == 0 then return end
  local freed, spent = 0, 0
  local epoch = redis.call('HGET', q, 'epoch') or '0'
  for _, id in ipairs(expired) do
    local amount = redis.call('HGET', r, id)
    if amount then
      freed = freed + tonumber(amount)
      redis.call('HDEL', r, id)
      local booked = redis.call('HGET', q, 'k:' .. id)
      if booked then
        redis.call('HDEL', q, 'k:' .. id)
        if booked == epoch then spent = spent + tonumber(amount) end
      end
    end
  end
  redis.call('ZREMRANGEBYSCORE', e, '-inf', fmt(now))
  set_reserved(q, r, reserved(q) - freed)
  if spent > 0 and redis.call('HEXISTS', q, 'used') == 1 then redis.call('HINCRBYFLOAT', q, 'used', fmt(spent)) end
end

-- Runs op once per call batched into this script: ARGV[1] = number of calls, then per call its key count,
-- its argument count and its arguments; KEYS holds every call's keys in order. Returns one reply per call.
local function each(op)
  local replies, ki, ai = {}, 0, 2
  for n = 1, tonumber(ARGV[1]) do
    local nk, na = tonumber(ARGV[ai]), tonumber(ARGV[ai + 1])
    local K, A = {}, {}
    for i = 1, nk do K[i] = KEYS[ki + i] end
    for i = 1, na do A[i] = ARGV[ai + 1 + i] end
    replies[n] = op(K, A)
    ki, ai = ki + nk, ai + 2 + na
  end
  return replies
end

-- Removes one reservation (if present) and returns whether it was there.
local function unreserve(q, r, e, id)
  local amount = redis.call('HGET', r, id)
  if not amount then return false end
  redis.call('HDEL', r, id)
  redis.call('ZREM', e, id)
  redis.call('HDEL', q, 'k:' .. id)
  set_reserved(q, r, reserved(q) - tonumber(amount))
  return true
end
`;

/**
 * Checks every rate limit, then the room on every quota; books all of them or none. Batched (see each()); per call:
 * K: the rate-limit keys, then per quota Q, Q:r, Q:e.
 * A: nRate, nQuota, id, desired, minimum, ttlMs, windowMs, epsilonMs, asSpent (1: expiresAsSpent),
 *       limit and count per rate limit, then limit and baseline per quota.
 * Returns {'ok', reserved} | {'rate', rateIndex, retryAfterMs} | {'quota', quotaIndex, remaining}.
 */
const ADMIT = `
local function admit(K, A)
  local nrate, nquota = tonumber(A[1]), tonumber(A[2])
  local id = A[3]
  local desired, minimum = tonumber(A[4]), tonumber(A[5])
  local ttl, window, eps = tonumber(A[6]), tonumber(A[7]), tonumber(A[8])
  local as_spent = A[9] == '1'
  local now = now_ms()

  -- GCRA: admit while TAT - now <= window - interval for the last of count arrivals; report the longest
  -- wait of all refusals.
  local tats = {}
  local worst, worst_wait = nil, 0
  for i = 1, nrate do
    local limit, count = tonumber(A[8 + 2 * i]), tonumber(A[9 + 2 * i])
    if limit > 0 then
      local interval = window / limit
      local base = math.max(tonumber(redis.call('GET', K[i]) or '0'), now)
      local ahead, allowance = base + (count - 1) * interval - now, window - interval
      if ahead > allowance + eps then
        local wait = math.max(1, math.ceil(ahead - allowance))
        if wait > worst_wait then worst, worst_wait = i, wait end
      else
        tats[i] = base + count * interval
      end
    end
  end
  if worst then return {'rate', worst, worst_wait} end

  -- Room on every limited quota; a counter the store does not hold counts as its baseline.
  local qargs = 9 + 2 * nrate
  local room, tightest = math.huge, nil
  local held = {}
  for j = 1, nquota do
    local k = nrate + 3 * (j - 1)
    local q, r, e = K[k + 1], K[k + 2], K[k + 3]
    local limit = tonumber(A[qargs + 2 * j - 1])
    if limit >= 0 then
      sweep(q, r, e, now)
      local v = redis.call('HMGET', q, 'used', 'reserved')
      held[j] = tonumber(v[2] or '0')
      local used = v[1] and (tonumber(v[1]) + held[j]) or tonumber(A[qargs + 2 * j])
      local left = math.max(0, limit - used)
      if left < room then room, tightest = left, j end
    end
  end
  local amount = math.min(desired, room)
  if tightest and amount < minimum then return {'quota', tightest, fmt(room)} end

  -- Everything fits: book. An unlimited quota only has its counter seeded (it still counts spend).
  for i, tat in pairs(tats) do
    redis.call('SET', K[i], fmt(tat), 'PX', math.ceil(tat - now) + 1000)
  end
  local expires = fmt(now + ttl)
  for j = 1, nquota do
    local k = nrate + 3 * (j - 1)
    local q, r, e = K[k + 1], K[k + 2], K[k + 3]
    redis.call('HSETNX', q, 'used', A[qargs + 2 * j])
    if held[j] then
      local previous = tonumber(redis.call('HGET', r, id) or '0')
      redis.call('HSET', r, id, fmt(amount))
      redis.call('ZADD', e, expires, id)
      if as_spent then redis.call('HSET', q, 'k:' .. id, redis.call('HGET', q, 'epoch') or '0') else redis.call('HDEL', q, 'k:' .. id) end
      set_reserved(q, r, held[j] - previous + amount)
    end
  end
  return {'ok', fmt(amount)}
end
return each(admit)
`;

/**
 * Replaces a reservation by the actual cost on each quota, once per reservation id: the id is remembered
 * for A[3] ms in the call's last key so a repeated settle adds nothing. A quota the store does not hold is
 * left absent (the next admit seeds it from PostgreSQL, which will include this cost). Expired reservations
 * are left to the next admit's sweep: nothing here reads the reserved total.
 * Batched; per call K: per quota Q, Q:r, Q:e, then the settled-ids key. A: id, actual, memoryMs.
 */
const SETTLE = `
local function settle(K, A)
  local id, actual, memory = A[1], A[2], tonumber(A[3])
  local s = K[#K]
  local now = now_ms()
  redis.call('ZREMRANGEBYSCORE', s, '-inf', fmt(now - memory))
  if redis.call('ZSCORE', s, id) then return 0 end
  for k = 0, #K - 4, 3 do
    local q = K[k + 1]
    unreserve(q, K[k + 2], K[k + 3], id)
    if redis.call('HEXISTS', q, 'used') == 1 then redis.call('HINCRBYFLOAT', q, 'used', actual) end
  end
  redis.call('ZADD', s, fmt(now), id)
  redis.call('PEXPIRE', s, memory)
  return 0
end
return each(settle)
`;

/** Drops a reservation on every quota; absent reservations are a no-op. Batched; per call K: per quota Q, Q:r, Q:e. A: id. */
const RELEASE = `
local function release(K, A)
  for k = 0, #K - 3, 3 do
    unreserve(K[k + 1], K[k + 2], K[k + 3], A[1])
  end
  return 0
end
return each(release)
`;

/** Live spend (settled + reserved) after the sweep, or nil without a counter. KEYS: Q, Q:r, Q:e. */
const QUOTA_USED = `
sweep(KEYS[1], KEYS[2], KEYS[3], now_ms())
local settled = redis.call('HGET', KEYS[1], 'used')
if not settled then return false end
return fmt(tonumber(settled) + reserved(KEYS[1]))
`;

/** Sets a quota counter's settled spend (reconciliation), in a new epoch. KEYS: Q. ARGV: used. */
const SET_QUOTA_USED = `
redis.call('HSET', KEYS[1], 'used', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
return 0
`;

/** Fixed-window counter: the window starts at the first hit. KEYS: counter. ARGV: windowMs, by. */
const HIT = `
local count = redis.call('INCRBYFLOAT', KEYS[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`;

function script(body: string): LuaScript {
  const source = PRELUDE + body;
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

export const scripts = {
  admit: script(ADMIT),
  settle: script(SETTLE),
  release: script(RELEASE),
  quotaUsed: script(QUOTA_USED),
  setQuotaUsed: script(SET_QUOTA_USED),
  hit: script(HIT),
} as const;
