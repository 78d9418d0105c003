-- many: enough entities for the engine to record the world pass with two
-- encoders (3000 cubes, then 1000 spheres in the sorted list) and a few on
-- the screen layer, so the stats JSON can be checked against the scene.
function init()
  local cam = camera.create({position = {x = 0, y = 40, z = 60}, target = {x = 0, y = 0, z = 0}, fov = 60})
  camera.set_active(cam)
  light.create({kind = "directional", position = {x = 1, y = 3, z = 1}, intensity = 1})
  for i = 0, 3999 do
    local mesh = "cube"
    if i >= 3000 then mesh = "sphere" end
    entity.create({mesh = mesh, position = {x = (i % 80) - 40, y = 0, z = (i // 80) - 25},
                   scale = {x = 0.6, y = 0.6, z = 0.6}, color = {r = (i % 7) / 7, g = (i % 11) / 11, b = 0.5, a = 1}})
  end
  for i = 0, 9 do
    entity.create({mesh = "cube", layer = "screen", position = {x = 20 + 30 * i, y = 20, z = 0},
                   scale = {x = 20, y = 20, z = 1}, color = {r = 1, g = 1, b = 1, a = 1}})
  end
end

function update(dt)
end
