-- require inside the game directory.
local util = require("lib.util")
local again = require("lib.util")

function init()
  log.info("require", util.double(21), util == again)
end
