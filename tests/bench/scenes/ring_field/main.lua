-- ring_field: the scene of the raw render programs in ../shared/anchors/render
-- (scene.h), rebuilt as a keel game so that bench_gl runs the whole engine on
-- the picture the raw GL program draws: 10,000 objects scattered over a ring
-- 6..18 units wide and +-2 high, every third a sphere, the rest cubes, sizes
-- 0.375..0.625, one directional light, and a camera circling slowly, placed
-- by the frame number as the raw program places it. Nothing else moves, so
-- a frame's cost is the renderer's.
local COUNT = 10000
local RING_IN, RING_OUT, Y_JITTER, SCALE = 6.0, 18.0, 2.0, 0.5
local M32 = 0xffffffff

-- The raw programs' integer hash, in Lua 5.4's 64-bit integers.
local function hash32(x)
  x = x ~ (x >> 16)
  x = (x * 0x21f0aaad) & M32
  x = x ~ (x >> 15)
  x = (x * 0x735a2d97) & M32
  x = x ~ (x >> 15)
  return x
end

local function hashf(i, k) return (hash32((i * 8 + k + 0x51ed270b) & M32) >> 8) * (1.0 / 16777216.0) end

local function hsv_color(i)
  local h, s, v = hashf(i, 4) * 6.0, 0.7, 0.95
  local hi = math.floor(h)
  local f = h - hi
  local p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
  local rgb = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}}
  local c = rgb[hi % 6 + 1]
  return {r = c[1], g = c[2], b = c[3], a = 1}
end

local cam

local function eye(frame)
  local a = 0.6 + 0.004 * frame
  return {x = 27 * math.sin(a), y = 17, z = 27 * math.cos(a)}
end

function init()
  cam = camera.create({position = eye(0), target = {x = 0, y = -3, z = 0}, fov = 55})
  camera.set_active(cam)
  light.create({kind = "directional", position = {x = 0.4319342, y = 0.8638684, z = 0.2591605}, intensity = 0.75})
  for i = 0, COUNT - 1 do
    local a = 2 * math.pi * hashf(i, 0)
    local r = math.sqrt(RING_IN * RING_IN + hashf(i, 1) * (RING_OUT * RING_OUT - RING_IN * RING_IN))
    local s = SCALE * (0.75 + 0.5 * hashf(i, 3))
    entity.create({mesh = (i % 3 == 2) and "sphere" or "cube",
                   position = {x = r * math.cos(a), y = (hashf(i, 2) * 2 - 1) * Y_JITTER, z = r * math.sin(a)},
                   scale = {x = s, y = s, z = s}, color = hsv_color(i)})
  end
  log.info("ring_field:", COUNT, "entities")
end

function update(dt)
  camera.update(cam, {position = eye(engine.frame())})
end
