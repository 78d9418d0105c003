-- Outside the test game directory: require must never load this.
log.error("outside.lua was loaded")
return {}
