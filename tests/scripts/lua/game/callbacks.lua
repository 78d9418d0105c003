-- Creation callbacks and cvar handlers: the first of each raises, the others
-- must still run, and update(dt) after them.
local n = 0
local ids = {}

function init()
  ids[1] = entity.create({}, function(id, err)
    log.info("cb1", id == ids[1], err)
    error("callback boom") --@callback
  end)
  ids[2] = entity.create({mesh = "teapot"}, function(id, err)
    log.info("cb2", id == ids[2], err)
  end)
  ids[3] = camera.create({fov = 70}, function(id, err)
    log.info("cb3", id == ids[3], err, math.type(id))
  end)
  cvar.on_change("speed", function(value, name)
    error("handler boom") --@handler
  end)
  cvar.on_change("speed", function(value, name)
    log.info("speed handler", value, name)
  end)
end

function update(dt)
  n = n + 1
  cvar.set("ticks", n)
end
