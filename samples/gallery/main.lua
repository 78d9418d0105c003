-- gallery: every built-in mesh under a directional and two point lights,
-- in many colours, with a HUD bar on the screen layer and a camera that
-- circles the scene. The same scene as main.js, line for line. It is the
-- picture in the README (docs/gallery.png, made with `keel --screenshot`)
-- and the Vulkan golden image's scene.
local RING = 24
local PILLARS = 12
local TWO_PI = 2 * math.pi

local t = 0
local cam = 0
local blue = 0
local bar = 0
local spinners = {}

-- A colour of the wheel: hue 0..1 at full saturation, softened towards white.
local function hue(h)
  local r = math.abs(h * 6 - 3) - 1
  local g = 2 - math.abs(h * 6 - 2)
  local b = 2 - math.abs(h * 6 - 4)
  r = math.min(math.max(r, 0), 1)
  g = math.min(math.max(g, 0), 1)
  b = math.min(math.max(b, 0), 1)
  return {r = 0.15 + 0.8 * r, g = 0.15 + 0.8 * g, b = 0.15 + 0.8 * b, a = 1}
end

-- A rotation of `angle` radians about the y axis.
local function turn(angle)
  return {x = 0, y = math.sin(angle / 2), z = 0, w = math.cos(angle / 2)}
end

local function camera_at(time)
  local a = 0.6 + 0.25 * time
  return {x = 20 * math.cos(a), y = 9, z = 20 * math.sin(a)}
end

function init()
  cam = camera.create({position = camera_at(0), target = {x = 0, y = 1, z = 0}, fov = 55})
  camera.set_active(cam)
  light.create({kind = "directional", position = {x = 2, y = 4, z = 1}, color = {r = 1, g = 0.95, b = 0.85},
                intensity = 0.75})
  light.create({kind = "point", position = {x = 5, y = 2.5, z = 3}, color = {r = 1, g = 0.45, b = 0.3},
                intensity = 1.6, range = 11})
  blue = light.create({kind = "point", position = {x = -5, y = 2.5, z = -3}, color = {r = 0.3, g = 0.5, b = 1},
                       intensity = 1.6, range = 11})
  entity.create({mesh = "plane", position = {x = 0, y = 0, z = 0}, scale = {x = 120, y = 1, z = 120},
                 color = {r = 0.42, g = 0.44, b = 0.48, a = 1}})
  entity.create({mesh = "sphere", position = {x = 0, y = 1.6, z = 0}, scale = {x = 3.2, y = 3.2, z = 3.2},
                 color = {r = 0.92, g = 0.92, b = 0.95, a = 1}})
  for i = 0, RING - 1 do
    local a = i * (TWO_PI / RING)
    local mesh = "cube"
    if i % 2 == 1 then mesh = "sphere" end
    local id = entity.create({mesh = mesh, position = {x = 7 * math.cos(a), y = 0.6, z = 7 * math.sin(a)},
                              rotation = turn(a), scale = {x = 1.2, y = 1.2, z = 1.2}, color = hue(i / RING)})
    if i % 2 == 0 then spinners[#spinners + 1] = id end
  end
  for i = 0, PILLARS - 1 do
    local a = (i + 0.5) * (TWO_PI / PILLARS)
    local h = 1 + (i % 4) * 0.9
    entity.create({mesh = "cube", position = {x = 11 * math.cos(a), y = h / 2, z = 11 * math.sin(a)},
                   rotation = turn(-a), scale = {x = 0.9, y = h, z = 0.9}, color = hue(1 - i / PILLARS)})
  end
  -- The HUD, in pixels from the top-left corner: a bar whose fill follows
  -- the game time, and a row of colour swatches.
  entity.create({mesh = "cube", layer = "screen", position = {x = 180, y = 36, z = 0}, scale = {x = 320, y = 28, z = 1},
                 color = {r = 0.08, g = 0.09, b = 0.12, a = 1}})
  bar = entity.create({mesh = "cube", layer = "screen", position = {x = 30, y = 36, z = 1},
                       scale = {x = 12, y = 18, z = 1}, color = {r = 0.3, g = 0.85, b = 0.45, a = 1}})
  for i = 0, 7 do
    entity.create({mesh = "cube", layer = "screen", position = {x = 40 + 36 * i, y = 684, z = 0},
                   scale = {x = 28, y = 28, z = 1}, color = hue(i / 8)})
  end
end

function update(dt)
  t = t + dt
  camera.update(cam, {position = camera_at(t)})
  light.update(blue, {position = {x = -5 * math.cos(t), y = 2.5, z = -5 * math.sin(t)}})
  for k = 1, #spinners do
    entity.update(spinners[k], {rotation = turn(t * 1.5 + k)})
  end
  local fill = 12 + 288 * ((t * 0.25) % 1)
  entity.update(bar, {position = {x = 24 + fill / 2, y = 36, z = 1}, scale = {x = fill, y = 18, z = 1}})
end
