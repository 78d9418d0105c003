-- Prints the seeded sequence exactly (%a) so the test can compare it with
-- splitmix64 computed in C.
function init()
  local out = {}
  for i = 1, 3 do out[#out + 1] = string.format("%a", math.random()) end
  for i = 1, 3 do out[#out + 1] = tostring(math.random(6)) end
  for i = 1, 3 do out[#out + 1] = tostring(math.random(10, 20)) end
  log.info("random " .. table.concat(out, " "))
  math.randomseed(7)
  local a = math.random()
  math.randomseed(7)
  log.info("reseed", a == math.random())
end
