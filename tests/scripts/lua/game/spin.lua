-- Spins when the cvar "code" is "spin", for interrupt() and overrun tests.
local n = 0
function update(dt)
  n = n + 1
  cvar.set("ticks", n)
  if cvar.get("code") == "spin" then
    while true do end --@spin
  end
end
