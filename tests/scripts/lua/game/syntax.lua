-- A main script that does not compile: init must fail with file:line.
function update(dt)
  local x = = 1 --@syntax
end
