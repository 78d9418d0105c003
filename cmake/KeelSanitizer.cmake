# Sanitizer support that must live in each executable rather than in a
# library: see core/sanitizer/tsan_longjmp.c for why TSan builds need it.
function(keel_sanitize_executable target)
  if(KEEL_SANITIZER STREQUAL "tsan")
    target_sources(${target} PRIVATE "${PROJECT_SOURCE_DIR}/core/sanitizer/tsan_longjmp.c")
    target_link_options(${target} PRIVATE "-Wl,--export-dynamic-symbol=__longjmp_chk")
  endif()
endfunction()
