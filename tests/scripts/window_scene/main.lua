-- A still scene for the windowed renderer tests (test_window_render.c): lit
-- cubes and spheres on a floor, and a screen-layer bar, built in init and
-- never changed, so every frame from the first shows the same image in a
-- window and headless. Tick 5 says so in the log.
local ticks = 0

function init()
  local cam = camera.create({position = {x = 0, y = 4, z = 9}, target = {x = 0, y = 0.5, z = 0}, fov = 55})
  camera.set_active(cam)
  light.create({kind = "directional", position = {x = 1, y = 3, z = 2}, intensity = 1.2})
  light.create({kind = "point", position = {x = -2, y = 2, z = 1}, color = {r = 1, g = 0.6, b = 0.3}, range = 6})
  entity.create({mesh = "plane", scale = {x = 12, y = 1, z = 12}, color = {r = 0.35, g = 0.35, b = 0.4}})
  local colours = {{r = 0.9, g = 0.2, b = 0.2}, {r = 0.2, g = 0.8, b = 0.3}, {r = 0.2, g = 0.4, b = 0.95},
                   {r = 0.95, g = 0.85, b = 0.2}, {r = 0.8, g = 0.3, b = 0.9}}
  for i = 1, 5 do
    entity.create({mesh = i % 2 == 0 and "sphere" or "cube", position = {x = (i - 3) * 1.6, y = 0.6, z = (i % 3) - 1},
                   scale = {x = 1, y = 1, z = 1}, color = colours[i]})
  end
  entity.create({mesh = "cube", layer = "screen", position = {x = 60, y = 14, z = 0}, scale = {x = 100, y = 12, z = 1},
                 color = {r = 0.1, g = 0.9, b = 0.9}})
end

function update(dt)
  ticks = ticks + 1
  if ticks == 5 then log.info("scene ready") end
end
