-- A loop that swallows the watchdog's error: it must still stop each tick.
function update(dt)
  while true do pcall(function() while true do end end) end
end
