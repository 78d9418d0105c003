# keel_add_plugin(<name> SOURCES ... [LIBRARIES ...]): a dlopen-able plugin.
# Plugins see the SDK headers only, never link the core, are built with hidden
# visibility (only KEEL_EXPORT symbols leave the .so) and land in the build
# tree's plugin directory, named keel_<name>.so, so the runner finds them there.
function(keel_add_plugin name)
  cmake_parse_arguments(P "" "" "SOURCES;LIBRARIES;INCLUDES" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES})
  target_link_libraries(${name} PRIVATE keel_sdk ${P_LIBRARIES})
  if(P_INCLUDES)
    target_include_directories(${name} PRIVATE ${P_INCLUDES})
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX "keel_"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY "${KEEL_PLUGIN_OUTPUT_DIR}")
  # A plugin that needs a symbol the host did not give it must fail to build,
  # not fail at dlopen time on a user's machine.
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
  install(TARGETS ${name} LIBRARY DESTINATION "${KEEL_PLUGIN_INSTALL_DIR}" COMPONENT runtime)
endfunction()
