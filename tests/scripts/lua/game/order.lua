-- cvar.on_change handlers run in registration order, once per change event.
seen = ""

function init()
  cvar.on_change("speed", function(v) seen = seen .. "A" .. v end)
  cvar.on_change("speed", function(v) seen = seen .. "B" .. v end)
  cvar.on_change("flag", function(v, name) seen = seen .. "[" .. name .. "=" .. tostring(v) .. "]" end)
  cvar.on_change("speed", function(v) seen = seen .. "C" .. v end)
end

function update(dt)
  if cvar.get("code") == "go" then
    cvar.set("speed", 2)
    cvar.set("flag", true)
    cvar.set("speed", 3)
    cvar.set("code", "")
  end
  log.info("seen:" .. seen)
end
