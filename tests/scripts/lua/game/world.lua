-- Ids come back at once and work in the same tick; every create fills every
-- field, update only the given ones.
function init()
  local e = entity.create({mesh = "sphere", position = {x = 1, y = 2, z = 3}, color = {r = 0.5, g = 0.25, b = 0}})
  entity.update(e, {position = {x = 4, y = 5, z = 6}, layer = "screen"})
  local c = camera.create({position = {x = 0, y = 2, z = -5}, target = {x = 0, y = 0, z = 0}})
  camera.set_active(c)
  local l = light.create({kind = "directional", intensity = 2})
  light.update(l, {range = 25})
  local gone = entity.create({})
  entity.destroy(gone)
  log.info("ids", math.type(e), e > 0, c ~= e, l ~= c)
  local got = entity.get(e)
  log.info("get", got.id == e, got.mesh, got.position.x, got.position.y, got.position.z, got.color.g, got.color.a,
           got.rotation.w, got.scale.x, got.layer)
  log.info("get gone", entity.get(gone), entity.get(c), entity.get(0), entity.get(1.5))
  log.info("count", entity.count())
end

function update(dt)
  log.info("engine", engine.frame(), engine.time(), engine.dt(), dt)
end
