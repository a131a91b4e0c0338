package tripinredis

import "github.com/redis/go-redis/v9"

// Every change of a job's state is one of the Lua scripts below: Redis runs
// a script to its end before any other command, so a claim, an insert or a
// completion is atomic, and a crash of the calling process can never leave
// a job half moved. The scripts build their keys from the prefix (ARGV[1])
// and declare one key, the id counter, so that a Redis Cluster routes them
// to its slot; on a cluster the prefix must therefore carry a hash tag
// ("{tripin}:queue:") to keep every key of the queue on that slot.
//
// Keys, under the prefix P:
//
//	P id                      INCR counter of job ids, seeded from the clock
//	P queues                  set of the queues that ever had a job
//	P job:<id>                hash of one job (the jobs table's columns)
//	P q:<queue>:pending       zset of waiting jobs, scored by available_at
//	P q:<queue>:reserved      zset of running jobs, scored by lease_expires_at
//	P unique:<key>            the id of the job holding a unique key (with a TTL)
//	P lost                    hash of ids found queued without their job hash
//	P outbox                  counter bumped by every JobInsertManyTx
//	P outbox:<sqlid>:<uuid>   marker of an outbox row already moved in
//	P retried:<id>:<uuid>     marker of a failed job already put back
//	P cache:<key>             the shared cache
//	P rate:<key>:<start>      a limiter window's hits (with a TTL; ratelimit.go)
//	P notify                  pub/sub channel: a queue got a job
//
// Members of the zsets are ids zero-padded to 19 digits. Members of equal
// score sort by their bytes, so the padding makes a zset read in
// (available_at, id) order: exactly the order of the SQL drivers' claim,
// with delayed and ready jobs in one set and no migration step between them.

// luaCommon is prepended to every script.
//
// seed gives a missing id counter its first value: Redis's clock in
// microseconds. A Redis that lost its data (restarted without
// persistence) thus draws ids above every id it drew before, as long as
// it drew fewer than a million a second on average since it was seeded:
// an id returned before the loss (an outbox row's, or one a scheduler
// lock names) never comes back for another job. The ids stay below 2^53,
// exact in Lua's numbers and in JavaScript, until the year 2255.
//
// holdKey makes the unique key uk name the job sid for ttl seconds, unless
// another job holds it. The keys carry a TTL so that a job lost from
// Redis cannot block its successors forever; the scripts that move a job
// renew it from the job's next deadline (see Options.UniqueTTLMargin).
const luaCommon = `
local P = ARGV[1]
local function member(id) return string.format('%019d', id) end
local function idstr(id) return string.format('%d', id) end
local function servernow() return tonumber(redis.call('TIME')[1]) end
local function seed()
  if redis.call('EXISTS', P .. 'id') == 0 then
    local t = redis.call('TIME')
    redis.call('SET', P .. 'id', string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2])))
  end
end
local function draw(n)
  seed()
  return redis.call('INCRBY', P .. 'id', n)
end
local function holdKey(uk, sid, ttl)
  if not uk or uk == '' then return end
  local ukey = P .. 'unique:' .. uk
  local cur = redis.call('GET', ukey)
  if not cur or cur == sid then
    redis.call('SET', ukey, sid, 'EX', string.format('%d', math.max(ttl, 1)))
  end
end
`

// insertScript inserts jobs. ARGV: prefix, now ("" for the server clock),
// the unique keys' TTL margin in seconds, count, then insertFields values
// per job: id ("" draws one from the counter), uuid, queue, kind, payload,
// max_attempts, available_at ("" for now + delay), delay, created_at (""
// for now), unique key, batch id, marker ("" for none). It returns two
// integers per job: the id and a status, 0 inserted, 1 skipped because
// another job holds its unique key (the id is then the holder's), 2
// skipped because its marker was already set (the job was moved in
// before). A unique key whose holder's hash is gone (the job was deleted
// behind the queue's back) holds nothing: the new job takes it. Queues
// that got a job available now are published on P notify.
var insertScript = redis.NewScript(luaCommon + `
local now = tonumber(ARGV[2]) or servernow()
local margin = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local out = {}
local wake = {}
for i = 0, n - 1 do
  local b = 4 + i * 12
  local id = tonumber(ARGV[b + 1])
  local uuid, queue, kind, payload, maxa = ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6]
  local at = tonumber(ARGV[b + 7]) or (now + tonumber(ARGV[b + 8]))
  local created = tonumber(ARGV[b + 9]) or now
  local ukey, batch, marker = ARGV[b + 10], ARGV[b + 11], ARGV[b + 12]
  local status = 0
  if marker ~= '' and not redis.call('SET', marker, '1', 'NX', 'EX', 604800) then
    status = 2
  end
  if status == 0 and ukey ~= '' then
    local holder = redis.call('GET', P .. 'unique:' .. ukey)
    if holder and redis.call('EXISTS', P .. 'job:' .. holder) == 1 then
      status, id = 1, tonumber(holder)
    end
  end
  if status == 0 then
    if id then
      -- An id drawn earlier (the outbox's) is kept unless it names
      -- another job by now (which the clock-seeded counter prevents, bar
      -- a clock set back); the counter is moved past it so that it is
      -- never drawn again.
      seed()
      if redis.call('EXISTS', P .. 'job:' .. idstr(id)) == 1 then
        id = nil
      elseif tonumber(redis.call('GET', P .. 'id')) < id then
        redis.call('SET', P .. 'id', idstr(id))
      end
    end
    if not id then id = draw(1) end
    local sid = idstr(id)
    if ukey ~= '' then
      redis.call('SET', P .. 'unique:' .. ukey, sid, 'EX', string.format('%d', math.max(at - now, 0) + margin))
    end
    redis.call('HSET', P .. 'job:' .. sid, 'uuid', uuid, 'queue', queue, 'kind', kind, 'payload', payload,
      'attempts', 0, 'max_attempts', maxa, 'available_at', at, 'created_at', created,
      'unique_key', ukey, 'batch_id', batch)
    redis.call('ZADD', P .. 'q:' .. queue .. ':pending', at, member(id))
    redis.call('SADD', P .. 'queues', queue)
    if at <= now then wake[queue] = true end
  end
  out[#out + 1] = id or 0
  out[#out + 1] = status
end
for q in pairs(wake) do redis.call('PUBLISH', P .. 'notify', q) end
return out
`)

// insertFields is the number of ARGV values per job of insertScript.
const insertFields = 12

// holdersScript reads unique keys. ARGV: prefix, then the keys' names. It
// returns per key the id of the job holding it, or 0 when no job does: a
// key whose holder's hash is gone holds nothing, as in insertScript.
var holdersScript = redis.NewScript(luaCommon + `
local out = {}
for i = 2, #ARGV do
  local holder = redis.call('GET', P .. 'unique:' .. ARGV[i])
  if holder and redis.call('EXISTS', P .. 'job:' .. holder) == 1 then
    out[#out + 1] = tonumber(holder)
  else
    out[#out + 1] = 0
  end
end
return out
`)

// drawScript draws count ids for the outbox and bumps the outbox sequence,
// which tells idle workers to look at the outbox. ARGV: prefix, count. It
// returns the last id drawn.
var drawScript = redis.NewScript(luaCommon + `
local top = draw(tonumber(ARGV[2]))
redis.call('INCR', P .. 'outbox')
return top
`)

// jobFields are the hash fields a claim returns after the id, in the order
// of parseJobs.
const luaJobFields = `{'uuid', 'queue', 'kind', 'payload', 'attempts', 'max_attempts', 'reserved_at',
  'available_at', 'created_at', 'unique_key', 'batch_id', 'reserved_by', 'last_error', 'lease_expires_at',
  'claim_seq', 'error_log'}`

// claimScript reserves up to max jobs. ARGV: prefix, now ("" for the server
// clock), lease in seconds, max, worker, the unique keys' TTL margin in
// seconds, then the queues in priority order. Within a queue it takes
// first the jobs whose lease expired (the reserved zset is scored by
// lease_expires_at, which the claiming worker set from its own lease; they
// have waited longest), then the waiting jobs available by now in
// (available_at, id) order; a queue is only drawn from when the queues
// before it came up short. A waiting job's attempts go up by one; an
// expired reservation that was never renewed (no heartbeat_at: its worker
// never marked it started, and it is not itself such a takeover) keeps its
// attempts and gets heartbeat_at 0, as the SQL drivers do
// (dbdriver.ClaimCharge). A claimed job's unique key is renewed for its
// lease and the margin.
//
// A member whose job hash is gone cannot be claimed: its job was evicted
// or deleted behind the queue's back. Every script that deletes a hash
// removes its members in the same step, and Redis persists a script's
// writes together, so nothing else leaves such a member. It is never
// dropped silently: it moves to the P lost hash (id → JSON of queue,
// state and the time it was found), from which the caller writes a
// failed_jobs row.
//
// It returns the outbox sequence (P outbox, bumped by every
// JobInsertManyTx, so the caller can tell whether the outbox may hold new
// rows), the number of entries in P lost, the number k of members this
// claim moved there and k pairs of their id and queue, then claimValues
// values per job: the id, then the fields of luaJobFields as they are
// after the claim.
var claimScript = redis.NewScript(luaCommon + `
local now = tonumber(ARGV[2]) or servernow()
local lease = tonumber(ARGV[3])
local left = tonumber(ARGV[4])
local worker = ARGV[5]
local margin = tonumber(ARGV[6])
local fields = ` + luaJobFields + `
local jobs = {}
local found = {}
for qi = 7, #ARGV do
  if left <= 0 then break end
  local q = ARGV[qi]
  local rkey = P .. 'q:' .. q .. ':reserved'
  local sources = {{rkey, '(' .. idstr(now), true}, {P .. 'q:' .. q .. ':pending', idstr(now), false}}
  for _, src in ipairs(sources) do
    while left > 0 do
      local want = left
      local ms = redis.call('ZRANGEBYSCORE', src[1], '-inf', src[2], 'LIMIT', 0, want)
      for _, m in ipairs(ms) do
        redis.call('ZREM', src[1], m)
        local sid = idstr(tonumber(m))
        local jkey = P .. 'job:' .. sid
        if redis.call('EXISTS', jkey) == 1 then
          if src[3] and not redis.call('HGET', jkey, 'heartbeat_at') then
            redis.call('HSET', jkey, 'heartbeat_at', 0)
          else
            redis.call('HINCRBY', jkey, 'attempts', 1)
            redis.call('HDEL', jkey, 'heartbeat_at')
          end
          redis.call('HINCRBY', jkey, 'claim_seq', 1)
          redis.call('HSET', jkey, 'reserved_at', now, 'reserved_by', worker, 'lease_expires_at', now + lease)
          redis.call('ZADD', rkey, now + lease, m)
          local vals = redis.call('HMGET', jkey, unpack(fields))
          holdKey(vals[10], sid, lease + margin)
          jobs[#jobs + 1] = sid
          for f = 1, #fields do jobs[#jobs + 1] = vals[f] or '' end
          left = left - 1
        else
          local state = 'waiting'
          if src[3] then state = 'running' end
          local entry = cjson.encode({queue = q, state = state, found_at = now})
          if redis.call('HSETNX', P .. 'lost', sid, entry) == 1 then
            found[#found + 1] = sid
            found[#found + 1] = q
          end
        end
      end
      if #ms < want then break end
    end
    if left <= 0 then break end
  end
end
local out = {redis.call('GET', P .. 'outbox') or '0', idstr(redis.call('HLEN', P .. 'lost')), idstr(#found / 2)}
for _, v in ipairs(found) do out[#out + 1] = v end
for _, v in ipairs(jobs) do out[#out + 1] = v end
return out
`)

// claimValues is the number of values per job claimScript returns.
const claimValues = 17

// luaHeld is prepended to the scripts that write a job's outcome: held
// reports whether the job hash jkey is still reserved by worker's claim
// number claim (claim_seq, which every claim moves on), so that a worker
// whose lease was taken over, by another or by itself, changes nothing.
const luaHeld = `
local function held(jkey, worker, claim)
  local v = redis.call('HMGET', jkey, 'reserved_by', 'claim_seq')
  return v[1] == worker and v[2] == claim
end
`

// completeScript deletes jobs still held by a worker's claims and frees
// their unique keys. ARGV: prefix, worker, then pairs of id and claim_seq.
// It returns the ids whose claim no longer holds (left unchanged).
var completeScript = redis.NewScript(luaCommon + luaHeld + `
local stale = {}
for i = 3, #ARGV, 2 do
  local sid = ARGV[i]
  local jkey = P .. 'job:' .. sid
  if held(jkey, ARGV[2], ARGV[i + 1]) then
    local v = redis.call('HMGET', jkey, 'queue', 'unique_key')
    local m = member(tonumber(sid))
    redis.call('ZREM', P .. 'q:' .. v[1] .. ':reserved', m)
    redis.call('ZREM', P .. 'q:' .. v[1] .. ':pending', m)
    if v[2] and v[2] ~= '' then
      local ukey = P .. 'unique:' .. v[2]
      if redis.call('GET', ukey) == sid then redis.call('DEL', ukey) end
    end
    redis.call('DEL', jkey)
  else
    stale[#stale + 1] = sid
  end
end
return stale
`)

// retryScript makes jobs wait again. ARGV: prefix, worker, the unique
// keys' TTL margin in seconds, then seven values per job: id, claim_seq (the
// claim's), now ("" for the server clock), delay in seconds, error ("" to
// clear last_error, as the SQL drivers store NULL), snooze ("1" gives the
// attempt back), the error log ("" leaves it as it is). A job's unique key is renewed until its new available_at
// and the margin. It returns the ids whose claim no longer holds (left
// unchanged).
var retryScript = redis.NewScript(luaCommon + luaHeld + `
local tnow = servernow()
local margin = tonumber(ARGV[3])
local wake = {}
local stale = {}
for i = 4, #ARGV, 7 do
  local sid = ARGV[i]
  local jkey = P .. 'job:' .. sid
  if held(jkey, ARGV[2], ARGV[i + 1]) then
    local q = redis.call('HGET', jkey, 'queue')
    local at = (tonumber(ARGV[i + 2]) or tnow) + tonumber(ARGV[i + 3])
    holdKey(redis.call('HGET', jkey, 'unique_key'), sid, at - tnow + margin)
    local m = member(tonumber(sid))
    redis.call('ZREM', P .. 'q:' .. q .. ':reserved', m)
    redis.call('ZADD', P .. 'q:' .. q .. ':pending', at, m)
    redis.call('HDEL', jkey, 'reserved_at', 'reserved_by', 'lease_expires_at', 'heartbeat_at')
    redis.call('HSET', jkey, 'available_at', at)
    if ARGV[i + 4] == '' then
      redis.call('HDEL', jkey, 'last_error')
    else
      redis.call('HSET', jkey, 'last_error', ARGV[i + 4])
    end
    if ARGV[i + 5] == '1' then
      local a = tonumber(redis.call('HGET', jkey, 'attempts')) or 0
      if a > 0 then redis.call('HSET', jkey, 'attempts', a - 1) end
    end
    if ARGV[i + 6] ~= '' then redis.call('HSET', jkey, 'error_log', ARGV[i + 6]) end
    if at <= tnow then wake[q] = true end
  else
    stale[#stale + 1] = sid
  end
end
for q in pairs(wake) do redis.call('PUBLISH', P .. 'notify', q) end
return stale
`)

// failHoldScript is the first step of failing jobs for good: it checks
// that each job is still held by the worker's claim and, if so, moves its
// lease hold seconds on, so that no claim can take it over while its
// failed_jobs row is written to the SQL database. ARGV: prefix, worker,
// hold seconds, then pairs of id and claim_seq. It returns the ids whose
// claim no longer holds (left unchanged).
var failHoldScript = redis.NewScript(luaCommon + luaHeld + `
local now = servernow()
local hold = tonumber(ARGV[3])
local stale = {}
for i = 4, #ARGV, 2 do
  local sid = ARGV[i]
  local jkey = P .. 'job:' .. sid
  local q = redis.call('HGET', jkey, 'queue')
  if q and held(jkey, ARGV[2], ARGV[i + 1]) then
    redis.call('ZADD', P .. 'q:' .. q .. ':reserved', now + hold, member(tonumber(sid)))
    redis.call('HSET', jkey, 'lease_expires_at', now + hold)
  else
    stale[#stale + 1] = sid
  end
end
return stale
`)

// heartbeatScript renews the leases of jobs still held by a worker's
// claims and marks them started. ARGV: prefix, worker, now ("" for the
// server clock), lease in seconds, the unique keys' TTL margin in
// seconds, then pairs of id and claim_seq. A renewed job's unique key is
// renewed for the lease and the margin, so that a job running longer
// than the margin keeps it. It returns the ids whose lease it could not
// renew.
var heartbeatScript = redis.NewScript(luaCommon + luaHeld + `
local now = tonumber(ARGV[3]) or servernow()
local lease = tonumber(ARGV[4])
local margin = tonumber(ARGV[5])
local lost = {}
for i = 6, #ARGV, 2 do
  local sid = ARGV[i]
  local jkey = P .. 'job:' .. sid
  local q = redis.call('HGET', jkey, 'queue')
  local rkey = q and (P .. 'q:' .. q .. ':reserved')
  local m = member(tonumber(sid))
  if q and held(jkey, ARGV[2], ARGV[i + 1]) and redis.call('ZSCORE', rkey, m) then
    redis.call('ZADD', rkey, now + lease, m)
    redis.call('HSET', jkey, 'lease_expires_at', now + lease, 'heartbeat_at', now)
    holdKey(redis.call('HGET', jkey, 'unique_key'), sid, lease + margin)
  else
    lost[#lost + 1] = sid
  end
end
return lost
`)

// clearScript deletes up to limit jobs of one queue, waiting or running,
// and frees their unique keys. ARGV: prefix, queue, limit. It returns the
// number of zset members it removed and the number of jobs it deleted; the
// caller repeats it until no member is left, so that a huge queue never
// blocks Redis for long.
var clearScript = redis.NewScript(luaCommon + `
local q, limit = ARGV[2], tonumber(ARGV[3])
local removed, deleted = 0, 0
for _, state in ipairs({'pending', 'reserved'}) do
  local key = P .. 'q:' .. q .. ':' .. state
  local ms = redis.call('ZRANGE', key, 0, limit - 1)
  for _, m in ipairs(ms) do
    local sid = idstr(tonumber(m))
    local jkey = P .. 'job:' .. sid
    local ukey = redis.call('HGET', jkey, 'unique_key')
    if ukey and ukey ~= '' and redis.call('GET', P .. 'unique:' .. ukey) == sid then
      redis.call('DEL', P .. 'unique:' .. ukey)
    end
    deleted = deleted + redis.call('DEL', jkey)
    removed = removed + redis.call('ZREM', key, m)
  end
  if removed > 0 then break end
end
return {removed, deleted}
`)
