-- Using a destroyed id: an error at this line, then the game goes on.
local id
function init()
  id = entity.create({mesh = "cube"})
  entity.destroy(id)
end
function update(dt)
  entity.update(id, {position = {x = 1, y = 2, z = 3}})
end
