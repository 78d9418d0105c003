-- A package: require("lib.pack") loads lib/pack/init.lua.
return {name = "pack", where = ...}
