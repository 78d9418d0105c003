-- probe: a scene whose pixels can be computed by hand from the shading
-- model (tests/unit/test_renderer_vulkan.c checks them): a cube lit from
-- straight above (its top face lit, its front face in shadow), a ground
-- plane with a point light close over it, and a HUD quad on the screen
-- layer. Nothing moves, so every frame is the same picture.
function init()
  local cam = camera.create({position = {x = 0, y = 3, z = 6}, target = {x = 0, y = 0, z = 0}, fov = 60})
  camera.set_active(cam)
  light.create({kind = "directional", position = {x = 0, y = 1, z = 0}, intensity = 1})
  light.create({kind = "point", position = {x = 0, y = -0.5, z = 3}, intensity = 1, range = 2})
  entity.create({mesh = "cube", position = {x = 0, y = 0, z = 0}, scale = {x = 2, y = 2, z = 2},
                 color = {r = 0.5, g = 0.25, b = 0.125, a = 1}})
  entity.create({mesh = "plane", position = {x = 0, y = -1, z = 0}, scale = {x = 20, y = 1, z = 20},
                 color = {r = 0.4, g = 0.4, b = 0.4, a = 1}})
  entity.create({mesh = "cube", layer = "screen", position = {x = 20, y = 10, z = 0}, scale = {x = 20, y = 10, z = 1},
                 color = {r = 0.9, g = 0.2, b = 0.2, a = 1}})
end

function update(dt)
end
