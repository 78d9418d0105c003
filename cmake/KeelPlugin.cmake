# keel_add_plugin(): how every plugin in this tree is built. The installed
# CMake package (packaging/cmake/keelConfig.cmake.in) defines the same
# function for third parties; keep the two in step.
#
#   keel_add_plugin(<name> SOURCES <file>... [LIBRARIES <lib>...] [INCLUDES <dir>...])
#
#   <name>     <kind>_<plugin name>, e.g. renderer_null or script_lua: the
#              target's name; the file is keel_<name>.so, the name the
#              loader looks for.
#   SOURCES    the plugin's sources (required).
#   LIBRARIES  what it links besides the SDK headers: its third-party
#              library (imported targets or -l names). libm is always linked.
#   INCLUDES   extra private include directories.
#
# Plugins see the SDK headers only, never link the core, are built with
# hidden visibility (only KEEL_EXPORT symbols leave the .so) and land in the
# build tree's plugin directory, so the runner finds them there. Every plugin
# target is recorded in the global property KEEL_PLUGIN_TARGETS, so targets
# that run plugins (the benchmarks) can depend on all of them.
function(keel_add_plugin name)
  cmake_parse_arguments(P "" "" "SOURCES;LIBRARIES;INCLUDES" ${ARGN})
  if(NOT P_SOURCES)
    message(FATAL_ERROR "keel_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${P_SOURCES})
  target_link_libraries(${name} PRIVATE keel_sdk ${P_LIBRARIES} m)
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
  set_property(GLOBAL APPEND PROPERTY KEEL_PLUGIN_TARGETS ${name})
endfunction()
