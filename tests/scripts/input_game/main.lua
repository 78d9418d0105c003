-- A game driven by input, for the window and replay tests: it logs every
-- edge it sees ("seen: ..."), and what it sees changes the world (space
-- drops a box where the mouse is, arrows move the last one, a click paints
-- the first one, the wheel lifts it), so the world hash depends on every
-- event. main.js is the same game line for line.
local KEYS = {"a", "b", "space", "left", "right", "up", "down", "shift", "enter", "1"}
local BUTTONS = {"left", "right", "middle"}
local boxes = {}
local mx, my = -1, -1
local sw, sh = -1, -1
local lift = 0

function update(dt)
  for _, k in ipairs(KEYS) do
    if input.pressed(k) then log.info("seen: pressed " .. k .. (input.down(k) and " (held)" or "")) end
    if input.released(k) then log.info("seen: released " .. k) end
  end
  for _, b in ipairs(BUTTONS) do
    if input.mouse_pressed(b) then log.info("seen: button down " .. b) end
    if input.mouse_released(b) then log.info("seen: button up " .. b) end
  end
  local m = input.mouse()
  if m.x ~= mx or m.y ~= my then
    mx, my = m.x, m.y
    log.info(string.format("seen: mouse %d %d", math.floor(mx), math.floor(my)))
  end
  local s = engine.screen()
  if s.width ~= sw or s.height ~= sh then
    sw, sh = s.width, s.height
    log.info(string.format("seen: screen %d %d", sw, sh))
  end
  local w = input.wheel()
  if w.y ~= 0 then log.info(string.format("seen: wheel %d", math.floor(w.y))) end

  if input.pressed("space") then
    boxes[#boxes + 1] = entity.create({position = {x = mx / 100, y = 0, z = my / 100}})
  end
  local last = boxes[#boxes]
  if last then
    local dx, dz = 0, 0
    if input.down("left") then dx = dx - 1 end
    if input.down("right") then dx = dx + 1 end
    if input.down("up") then dz = dz - 1 end
    if input.down("down") then dz = dz + 1 end
    lift = lift + w.y
    if dx ~= 0 or dz ~= 0 or w.y ~= 0 then
      local e = entity.get(last)
      if e then
        entity.update(last, {position = {x = e.position.x + dx, y = lift, z = e.position.z + dz}})
      end
    end
  end
  if input.mouse_pressed("left") and boxes[1] then
    entity.update(boxes[1], {color = {r = mx / 1000, g = my / 1000, b = 0.5}})
  end
end
