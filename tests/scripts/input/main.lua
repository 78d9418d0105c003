-- Input probe (test_script_input.c): each tick logs what input.* and
-- engine.screen() say, in a text the JavaScript twin (main.js) prints
-- identically; the cvar "case" makes a tick misuse the API instead.
local KEYS = {"a", "space", "left", "shift", "f12", "grave"}
local BUTTONS = {"left", "right", "middle"}

local function flags(down, pressed, released)
  return (down and "D" or "-") .. (pressed and "P" or "-") .. (released and "R" or "-")
end

function update(dt)
  local case = cvar.get("case")
  if case == "unknown_key" then input.down("foo") end --@unknown_key
  if case == "key_type" then input.pressed(7) end --@key_type
  if case == "unknown_button" then input.mouse_down("back") end --@unknown_button
  if case == "button_type" then input.mouse_released(nil) end --@button_type
  if case == "key_nul" then input.down("a\0b") end --@key_nul
  if case == "button_nul" then input.mouse_pressed("left\0x") end --@button_nul
  local parts = {}
  for _, k in ipairs(KEYS) do
    parts[#parts + 1] = k .. "=" .. flags(input.down(k), input.pressed(k), input.released(k))
  end
  for _, b in ipairs(BUTTONS) do
    parts[#parts + 1] = "mouse_" .. b .. "=" .. flags(input.mouse_down(b), input.mouse_pressed(b), input.mouse_released(b))
  end
  local m, w, s = input.mouse(), input.wheel(), engine.screen()
  parts[#parts + 1] = "mouse=" .. string.format("%g,%g", m.x, m.y)
  parts[#parts + 1] = "wheel=" .. string.format("%g,%g", w.x, w.y)
  parts[#parts + 1] = "screen=" .. string.format("%d,%d", s.width, s.height)
  log.info("input " .. table.concat(parts, " "))
end
