"""Lua scripts that write a source record and its indexes atomically (see
:mod:`mediaserver.registry.sources` for the keys)."""

# Writes a chunk of records. KEYS: sources, idx:ids, idx:groups, idx:search, idx:pulled.
# ARGV: prefix, create_only, JSON list of all record fields, then one JSON per record:
# [flat fields, search text]. Returns per record 0 exists (create_only), 1 created, 2 updated,
# 3 updated with media changed. Set additions are batched per chunk; per record it costs
# HMGET, HSET and (for an update that unsets optional fields) HDEL.
_PUT_LUA = """
local p, create_only, all_fields = ARGV[1], ARGV[2] == '1', cjson.decode(ARGV[3])
local media = {'url', 'publish', 'always_on', 'transport'}
local results, ids, zargs, searches, pulled, unpulled, groups = {}, {}, {}, {}, {}, {}, {}
for i = 4, #ARGV do
  local rec = cjson.decode(ARGV[i])
  local f, search = rec[1], rec[2]
  local id, group = f['id'], f['group']
  local key = p .. 'source:' .. id
  local old = redis.call('HMGET', key, 'group', 'url', 'publish', 'always_on', 'transport',
                         'name')
  local existed = old[1] ~= false
  if existed and create_only then
    results[#results + 1] = 0
  else
    local hargs = {}
    for k, v in pairs(f) do hargs[#hargs + 1] = k; hargs[#hargs + 1] = v end
    redis.call('HSET', key, unpack(hargs))
    if existed then
      local gone = {}
      for _, name in ipairs(all_fields) do
        if f[name] == nil then gone[#gone + 1] = name end
      end
      if #gone > 0 then redis.call('HDEL', key, unpack(gone)) end
    end
    ids[#ids + 1] = id
    zargs[#zargs + 1] = 0; zargs[#zargs + 1] = id
    searches[#searches + 1] = search
    if f['url'] and f['publish'] ~= 'true' then pulled[#pulled + 1] = id
    else unpulled[#unpulled + 1] = id end
    groups[group] = groups[group] or {}
    table.insert(groups[group], id)
    local result = 1
    if existed then
      local oldsearch = string.lower(id .. '\\31' .. (old[6] or '')) .. '\\30' .. id
      if oldsearch ~= search then redis.call('SREM', KEYS[4], oldsearch) end
      if old[1] ~= group then
        local gk = p .. 'group:' .. old[1]
        redis.call('SREM', gk, id)
        if redis.call('SCARD', gk) == 0 then redis.call('SREM', KEYS[3], old[1]) end
      end
      result = 2
      for j, name in ipairs(media) do
        if (old[j + 1] or '') ~= (f[name] or '') then result = 3 end
      end
    end
    results[#results + 1] = result
  end
end
if #ids > 0 then
  redis.call('SADD', KEYS[1], unpack(ids))
  redis.call('ZADD', KEYS[2], unpack(zargs))
  redis.call('SADD', KEYS[4], unpack(searches))
  if #pulled > 0 then redis.call('SADD', KEYS[5], unpack(pulled)) end
  if #unpulled > 0 then redis.call('SREM', KEYS[5], unpack(unpulled)) end
  for g, members in pairs(groups) do
    redis.call('SADD', p .. 'group:' .. g, unpack(members))
    redis.call('SADD', KEYS[3], g)
  end
end
return results
"""

# KEYS as above; ARGV: prefix, id. Also drops the source's status and state-index entries.
_DELETE_LUA = """
local p, id = ARGV[1], ARGV[2]
local old = redis.call('HMGET', p .. 'source:' .. id, 'group', 'name')
local g = old[1]
if not g then return 0 end
redis.call('DEL', p .. 'source:' .. id, p .. 'status:' .. id)
redis.call('SREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('SREM', KEYS[4], string.lower(id .. '\\31' .. (old[2] or '')) .. '\\30' .. id)
redis.call('SREM', KEYS[5], id)
local gk = p .. 'group:' .. g
redis.call('SREM', gk, id)
if redis.call('SCARD', gk) == 0 then redis.call('SREM', KEYS[3], g) end
for _, st in ipairs({'online', 'streaming', 'error'}) do
  redis.call('SREM', p .. 'idx:state:' .. st, id)
end
return 1
"""
