-- A module with a syntax error on line 3.
local M = {
  x = = 2, --@broken
}
return M
