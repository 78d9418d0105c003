// A loop that swallows the watchdog's error: it must still stop each tick.
function update(dt) {
  for (;;) { try { for (;;) {} } catch (e) {} }
}
