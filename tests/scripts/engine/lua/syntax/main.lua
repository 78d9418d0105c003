-- A syntax error: the engine must keep running frames.
function init()
  local x = = 1
end
