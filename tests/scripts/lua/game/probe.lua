-- Test probe: each tick counts itself in the cvar "ticks", then runs the Lua
-- snippet the test put in the cvar "code" (chunk name "case"), so a C test can
-- try one API call or sandbox escape per tick and read the error it raised.
local n = 0

function update(dt)
  n = n + 1
  cvar.set("ticks", n)
  local code = cvar.get("code")
  if code ~= "" then
    local f = assert(load(code, "=case"))
    f()
  end
end
