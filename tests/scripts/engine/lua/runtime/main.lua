-- A runtime error in every update: logged with file:line, counted, next tick runs.
local n = 0
function update(dt)
  n = n + 1
  local t = nil
  return t.field
end
