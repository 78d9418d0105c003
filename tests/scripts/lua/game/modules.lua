-- require inside the game directory.
local util = require("lib.util")
local again = require("lib.util")
local pack = require("lib.pack")

function init()
  log.info("require", util.double(21), util == again)
  log.info("package", pack.name, pack.where, require("lib.pack") == pack)
end
