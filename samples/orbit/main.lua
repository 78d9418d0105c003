-- orbit: rings of entities circling the origin. The same game as main.js,
-- line for line, so the two runtimes can be checked against each other: in
-- lockstep both must end with the same world hash.
local RINGS = 5
local PER_RING = 60
local TWO_PI = 2 * math.pi

local ids = {}
local t = 0
local spin = 1
local ticks = 0
local ready = 0

local function orbit(ring, k, time)
  local radius = 4 + 3 * ring
  local angle = k * (TWO_PI / PER_RING) + time * (0.2 + 0.1 * ring) * spin
  return {x = radius * math.cos(angle), y = 0.5 * ring, z = radius * math.sin(angle)}
end

local function on_created(id, err)
  if err then
    log.error("orbit: entity", id, "was not created:", err)
  else
    ready = ready + 1
  end
end

function init()
  local cam = camera.create({position = {x = 0, y = 14, z = 26}, target = {x = 0, y = 0, z = 0}, fov = 60})
  camera.set_active(cam)
  light.create({kind = "directional", position = {x = 1, y = 3, z = 1}, intensity = 2})
  for ring = 0, RINGS - 1 do
    for k = 0, PER_RING - 1 do
      local i = ring * PER_RING + k
      local mesh = "cube"
      if i % 3 == 0 then mesh = "sphere" end
      local color = {r = 0.2 + 0.6 * math.random(), g = 0.4 + 0.1 * ring, b = 1 - 0.15 * ring, a = 1}
      local cb = nil
      if k == 0 then cb = on_created end
      ids[i + 1] = entity.create({mesh = mesh, position = orbit(ring, k, 0), scale = {x = 0.5, y = 0.5, z = 0.5},
                                  color = color}, cb)
    end
  end
  cvar.on_change("sim_speed", function(value, name)
    spin = value
    log.info("orbit:", name, "is now", value)
  end)
  log.info("orbit: created", RINGS * PER_RING, "entities")
end

-- One ring moves per tick, so a fifth of the entities are dirty each tick.
function update(dt)
  ticks = ticks + 1
  t = t + dt
  local ring = ticks % RINGS
  for k = 0, PER_RING - 1 do
    entity.update(ids[ring * PER_RING + k + 1], {position = orbit(ring, k, t)})
  end
  if ticks == 90 then
    cvar.set("sim_speed", 1.5)
  end
  if ticks % 150 == 0 then
    log.info("orbit: tick", ticks, "entities", entity.count(), "rings ready", ready)
  end
end

function shutdown()
  log.info("orbit: done after", ticks, "ticks")
end
