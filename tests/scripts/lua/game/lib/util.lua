-- A module the sandboxed require must find in the game directory.
local M = {}
function M.double(x) return x * 2 end
return M
