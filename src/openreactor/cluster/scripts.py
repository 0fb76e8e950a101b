"""Lua scripts run inside Redis: each is one atomic step, so coordinators never race each other.

Keys (``P`` = the configured prefix): ``P workers`` set of worker ids; ``P w:<id>`` hash (url,
models ``|name@version|…``, capacity, draining, seen); ``P w:<id>:alive`` heartbeat with a TTL;
``P w:<id>:s`` session ids placed there; ``P s:<id>`` session hash (worker, url, owner, model,
state ``placed``/``live``/``closed``, end_reason, created_at, descriptor); ``P k:<key id>:s`` live
sessions of an API key; ``P u:<upload id>`` session of an upload slot.
"""

# ARGV: prefix, session id, model, version ('' = any), owner ('' = none), per-key limit (0 = none), now
# -> {'ok', worker id, url} | {'no_model'} | {'busy'} | {'key_limit'}. Idempotent per session id, so
# the client may retry it after a timeout.
PLACE = """
local p, sid, model, version, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local limit = tonumber(ARGV[6])
local earlier = redis.call('HMGET', p..'s:'..sid, 'worker', 'url')
if earlier[1] then return {'ok', earlier[1], earlier[2]} end  -- a retried call: same answer
if owner ~= '' and limit > 0 and redis.call('SCARD', p..'k:'..owner..':s') >= limit then
  return {'key_limit'}
end
local wanted = '|'..model..'@'
if version ~= '' then wanted = wanted..version..'|' end
local best, best_free, serves = nil, 0, false
for _, wid in ipairs(redis.call('SMEMBERS', p..'workers')) do
  local w = p..'w:'..wid
  if redis.call('EXISTS', w..':alive') == 1 then
    local info = redis.call('HMGET', w, 'models', 'capacity', 'draining')
    if info[1] and string.find(info[1], wanted, 1, true) and info[3] ~= '1' then
      serves = true
      local free = tonumber(info[2]) - redis.call('SCARD', w..':s')
      if free > best_free then best, best_free = wid, free end
    end
  end
end
if not serves then return {'no_model'} end
if not best then return {'busy'} end
local url = redis.call('HGET', p..'w:'..best, 'url')
redis.call('SADD', p..'w:'..best..':s', sid)
if owner ~= '' then redis.call('SADD', p..'k:'..owner..':s', sid) end
redis.call('HSET', p..'s:'..sid, 'worker', best, 'url', url, 'owner', owner, 'model', model,
  'state', 'placed', 'created_at', ARGV[7])
return {'ok', best, url}
"""

# ARGV: prefix, session id, reason, ttl of the closed record (s), worker, url, owner, model, descriptor
# (the last five recreate the record if Redis lost it). Idempotent.
RELEASE = """
local p, sid = ARGV[1], ARGV[2]
local rec = p..'s:'..sid
local worker = redis.call('HGET', rec, 'worker') or ARGV[5]
local owner = redis.call('HGET', rec, 'owner') or ARGV[7]
if worker ~= '' then redis.call('SREM', p..'w:'..worker..':s', sid) end
if owner ~= '' then redis.call('SREM', p..'k:'..owner..':s', sid) end
if redis.call('EXISTS', rec) == 0 then
  redis.call('HSET', rec, 'worker', ARGV[5], 'url', ARGV[6], 'owner', ARGV[7], 'model', ARGV[8],
    'descriptor', ARGV[9], 'created_at', '0')
end
if redis.call('HGET', rec, 'state') ~= 'closed' then
  redis.call('HSET', rec, 'state', 'closed', 'end_reason', ARGV[3])
end
redis.call('EXPIRE', rec, ARGV[4])
return 1
"""

# ARGV: prefix, worker id, url, models, capacity, draining, heartbeat ttl (ms), now, placement grace (s),
# then 4 per live session: id, owner, model, descriptor. Writes the worker's whole truth again, so a
# restarted (empty) Redis is repopulated by the next heartbeat. A session in the worker's set that
# it does not list is dropped only once older than the grace: the list is a snapshot taken before
# the script runs, so a session started meanwhile is missing from it; after the grace a missing one
# is a placement never started (its coordinator died) or an end whose release was lost.
ANNOUNCE = """
local p, wid, url = ARGV[1], ARGV[2], ARGV[3]
local w = p..'w:'..wid
redis.call('HSET', w, 'url', url, 'models', ARGV[4], 'capacity', ARGV[5], 'draining', ARGV[6], 'seen', ARGV[8])
redis.call('SET', w..':alive', '1', 'PX', ARGV[7])
redis.call('SADD', p..'workers', wid)
local live = {}
for i = 10, #ARGV, 4 do
  local sid, owner = ARGV[i], ARGV[i + 1]
  local rec = p..'s:'..sid
  live[sid] = true
  if redis.call('HGET', rec, 'state') ~= 'closed' then
    redis.call('HSET', rec, 'worker', wid, 'url', url, 'owner', owner, 'model', ARGV[i + 2],
      'state', 'live', 'descriptor', ARGV[i + 3])
    if redis.call('HEXISTS', rec, 'created_at') == 0 then redis.call('HSET', rec, 'created_at', ARGV[8]) end
    redis.call('PERSIST', rec)
    redis.call('SADD', w..':s', sid)
    if owner ~= '' then redis.call('SADD', p..'k:'..owner..':s', sid) end
  end
end
local dropped = 0
for _, sid in ipairs(redis.call('SMEMBERS', w..':s')) do
  if not live[sid] then
    local rec = p..'s:'..sid
    local state = redis.call('HGET', rec, 'state')
    local created = tonumber(redis.call('HGET', rec, 'created_at') or '0')
    if state == 'closed' or not state or created < tonumber(ARGV[8]) - tonumber(ARGV[9]) then
      redis.call('SREM', w..':s', sid)
      local owner = redis.call('HGET', rec, 'owner')
      if owner and owner ~= '' then redis.call('SREM', p..'k:'..owner..':s', sid) end
      if state and state ~= 'closed' then
        redis.call('HSET', rec, 'state', 'closed', 'end_reason', 'worker_lost')
        redis.call('EXPIRE', rec, 3600)
      end
      dropped = dropped + 1
    end
  end
end
return dropped
"""

# ARGV: prefix, closed-record ttl (s). Every worker whose heartbeat expired: its sessions end
# (reason 'worker_lost') and it leaves the registry. Idempotent; any coordinator may run it.
REAP = """
local p = ARGV[1]
local reaped = 0
for _, wid in ipairs(redis.call('SMEMBERS', p..'workers')) do
  local w = p..'w:'..wid
  if redis.call('EXISTS', w..':alive') == 0 then
    for _, sid in ipairs(redis.call('SMEMBERS', w..':s')) do
      local rec = p..'s:'..sid
      local owner = redis.call('HGET', rec, 'owner')
      if owner and owner ~= '' then redis.call('SREM', p..'k:'..owner..':s', sid) end
      if redis.call('EXISTS', rec) == 1 and redis.call('HGET', rec, 'state') ~= 'closed' then
        redis.call('HSET', rec, 'state', 'closed', 'end_reason', 'worker_lost')
        redis.call('EXPIRE', rec, ARGV[2])
        reaped = reaped + 1
      end
    end
    redis.call('DEL', w, w..':s')
    redis.call('SREM', p..'workers', wid)
  end
end
return reaped
"""

# ARGV: prefix, worker id. A worker that drained leaves the registry.
LEAVE = """
local p, wid = ARGV[1], ARGV[2]
local w = p..'w:'..wid
redis.call('DEL', w, w..':alive', w..':s')
redis.call('SREM', p..'workers', wid)
return 1
"""
