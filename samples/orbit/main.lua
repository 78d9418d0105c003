-- orbit: rings of entities circling the origin. The same game as main.js,
-- line for line, so the two runtimes can be checked against each other: in
-- lockstep both must end with the same world hash.
--
-- Play it in a window: the arrow keys steer the camera around the rings
-- (left/right turn, up/down tilt), the wheel zooms, space pauses and
-- resumes (through the sim_speed cvar), a click paints the entity nearest
-- the cursor. Escape or closing the window ends the run. Without input
-- (headless) the game runs exactly as it always did.
local RINGS = 5
local PER_RING = 60
local TWO_PI = 2 * math.pi
local TURN = 0.05 -- camera radians per tick while an arrow key is held
local PICK_RADIUS = 40 -- pixels: a click farther from every entity paints nothing
local PAINT = {{r = 1, g = 0.85, b = 0.2}, {r = 1, g = 0.3, b = 0.3}, {r = 0.3, g = 1, b = 0.4}}

local ids = {}
local where = {} -- each entity's last position, for picking
local t = 0
local spin = 1
local ticks = 0
local ready = 0
local paused = false
local resume_speed = 1
local cam = nil
local yaw, pitch, distance = 0, math.atan(14, 26), math.sqrt(14 * 14 + 26 * 26)
local painted = 0

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

local function camera_position()
  return {x = distance * math.cos(pitch) * math.sin(yaw), y = distance * math.sin(pitch),
          z = distance * math.cos(pitch) * math.cos(yaw)}
end

-- Where a world point lands on the screen (pixels, y down), or nil behind
-- the camera: the renderer's perspective (60 degrees vertical) looking at
-- the origin.
local function project(p, eye, screen)
  local fx, fy, fz = -eye.x, -eye.y, -eye.z
  local fl = math.sqrt(fx * fx + fy * fy + fz * fz)
  fx, fy, fz = fx / fl, fy / fl, fz / fl
  local rx, rz = -fz, fx -- forward x (0, 1, 0)
  local rl = math.sqrt(rx * rx + rz * rz)
  rx, rz = rx / rl, rz / rl
  local ux, uy, uz = -rz * fy, rz * fx - rx * fz, rx * fy -- right x forward
  local dx, dy, dz = p.x - eye.x, p.y - eye.y, p.z - eye.z
  local depth = dx * fx + dy * fy + dz * fz
  if depth <= 0.1 then return nil end
  local f = 1 / math.tan(math.rad(60) / 2)
  local aspect = screen.width / screen.height
  local sx = (dx * rx + dz * rz) * f / aspect / depth
  local sy = (dx * ux + dy * uy + dz * uz) * f / depth
  return (sx + 1) / 2 * screen.width, (1 - sy) / 2 * screen.height
end

local function paint_nearest(mouse)
  local screen = engine.screen()
  if screen.width == 0 or screen.height == 0 then return end
  local eye = camera_position()
  local best, best_d = nil, PICK_RADIUS * PICK_RADIUS
  for i = 1, #ids do
    local x, y = project(where[i], eye, screen)
    if x then
      local d = (x - mouse.x) * (x - mouse.x) + (y - mouse.y) * (y - mouse.y)
      if d < best_d then best, best_d = i, d end
    end
  end
  if best then
    painted = painted + 1
    entity.update(ids[best], {color = PAINT[(painted - 1) % #PAINT + 1]})
    log.info("orbit: painted entity", ids[best])
  end
end

local function steer()
  local moved = false
  if input.down("left") then yaw, moved = yaw - TURN, true end
  if input.down("right") then yaw, moved = yaw + TURN, true end
  if input.down("up") then pitch, moved = math.min(pitch + TURN, 1.5), true end
  if input.down("down") then pitch, moved = math.max(pitch - TURN, 0.05), true end
  local wheel = input.wheel().y
  if wheel ~= 0 then distance, moved = math.max(5, math.min(80, distance - 2 * wheel)), true end
  if moved then camera.update(cam, {position = camera_position()}) end
end

function init()
  cam = camera.create({position = {x = 0, y = 14, z = 26}, target = {x = 0, y = 0, z = 0}, fov = 60})
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
      where[i + 1] = orbit(ring, k, 0)
      ids[i + 1] = entity.create({mesh = mesh, position = where[i + 1], scale = {x = 0.5, y = 0.5, z = 0.5},
                                  color = color}, cb)
    end
  end
  cvar.on_change("sim_speed", function(value, name)
    paused = value == 0
    if not paused then spin = value end
    log.info("orbit:", name, "is now", value)
  end)
  log.info("orbit: created", RINGS * PER_RING, "entities")
end

-- One ring moves per tick, so a fifth of the entities are dirty each tick.
function update(dt)
  steer()
  if input.mouse_pressed("left") then paint_nearest(input.mouse()) end
  if input.pressed("space") then
    if paused then
      cvar.set("sim_speed", resume_speed)
    else
      resume_speed = cvar.get("sim_speed")
      cvar.set("sim_speed", 0)
    end
    paused = not paused
  end
  if paused then return end
  ticks = ticks + 1
  t = t + dt
  local ring = ticks % RINGS
  for k = 0, PER_RING - 1 do
    local i = ring * PER_RING + k + 1
    where[i] = orbit(ring, k, t)
    entity.update(ids[i], {position = where[i]})
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
