-- Runtime failures, one per tick, chosen by the cvar "case"; the tests find
-- each failing line by its marker comment and expect "errors.lua:<line>:".
local n = 0
local cases = {}

cases.runtime = function()
  local t = nil
  return t.x --@runtime
end

cases.raise = function()
  error("boom from errors.lua") --@raise
end

cases.runaway = function()
  while true do end --@runaway
end

cases.swallow = function()
  while true do
    pcall(function() while true do end end) --@swallow
  end
end

cases.swallow_xpcall = function()
  while true do
    xpcall(function() while true do end end, function(e) while true do end end)
  end
end

cases.coroutine = function()
  coroutine.wrap(function() while true do end end)() --@coroutine
end

cases.coroutine_swallow = function()
  while true do
    coroutine.resume(coroutine.create(function() while true do pcall(error, "x") end end))
  end
end

cases.recursion = function()
  local function down(k) return 1 + down(k + 1) end --@recursion
  return down(1)
end

cases.c_recursion = function()
  local t = setmetatable({}, {__index = function(t, k) return t[k] end})
  return t.x
end

cases.bomb = function()
  local t = {}
  for i = 1, 1e9 do
    t[i] = string.rep("x", 100) .. i --@bomb
  end
end

cases.big_alloc = function()
  return string.rep("x", 1 << 30)
end

cases.bomb_swallow = function()
  while true do
    pcall(function() local t = {} for i = 1, 1e9 do t[i] = {i} end end)
  end
end

cases.destroyed = function()
  local id = entity.create({})
  entity.destroy(id)
  entity.update(id, {position = {x = 1, y = 2, z = 3}}) --@destroyed
end

cases.require_broken = function()
  require("lib.broken")
end

function update(dt)
  n = n + 1
  cvar.set("ticks", n)
  local c = cvar.get("case")
  if c ~= "" then cases[c]() end
end
