# rtdyldConfig.cmake: CMake package for an installed rtdyld.
#
#   find_package(rtdyld 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE rtdyld::rtdyld)   # librtdyld.so
#   target_link_libraries(app PRIVATE rtdyld::static)   # librtdyld.a, if installed
#
# This file is installed as <prefix>/<libdir>/cmake/rtdyld/rtdyldConfig.cmake
# and finds everything relative to itself, so the installed tree can be moved.
# The version check lives in rtdyldConfigVersion.cmake next to it.

if(TARGET rtdyld::rtdyld)
  set(rtdyld_FOUND TRUE)
  return()
endif()

# <prefix>/<libdir>: two levels above this file's directory.
get_filename_component(_rtdyld_libdir "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

# <prefix>: the nearest ancestor of the libdir that holds include/rtdyld.h
# (the libdir is "lib", "lib64" or e.g. "lib/x86_64-linux-gnu").
set(_rtdyld_prefix "${_rtdyld_libdir}")
set(_rtdyld_include_dir "")
foreach(_rtdyld_i RANGE 1 3)
  get_filename_component(_rtdyld_prefix "${_rtdyld_prefix}/.." ABSOLUTE)
  if(EXISTS "${_rtdyld_prefix}/include/rtdyld.h")
    set(_rtdyld_include_dir "${_rtdyld_prefix}/include")
    break()
  endif()
endforeach()

set(_rtdyld_so "${_rtdyld_libdir}/librtdyld.so")
if(NOT _rtdyld_include_dir OR NOT EXISTS "${_rtdyld_so}")
  set(rtdyld_FOUND FALSE)
  set(rtdyld_NOT_FOUND_MESSAGE
      "rtdyld package at ${CMAKE_CURRENT_LIST_DIR} is incomplete (need ${_rtdyld_so} and include/rtdyld.h above it)")
  return()
endif()

# The real file behind librtdyld.so -> librtdyld.so.0 -> librtdyld.so.X.Y.Z.
get_filename_component(_rtdyld_so_real "${_rtdyld_so}" REALPATH)

add_library(rtdyld::rtdyld SHARED IMPORTED)
set_target_properties(rtdyld::rtdyld PROPERTIES
  IMPORTED_LOCATION "${_rtdyld_so_real}"
  IMPORTED_SONAME "librtdyld.so.${rtdyld_VERSION_MAJOR}"
  INTERFACE_INCLUDE_DIRECTORIES "${_rtdyld_include_dir}")

if(EXISTS "${_rtdyld_libdir}/librtdyld.a")
  # A Rust staticlib needs the system libraries the Rust std uses.
  add_library(rtdyld::static STATIC IMPORTED)
  set_target_properties(rtdyld::static PROPERTIES
    IMPORTED_LOCATION "${_rtdyld_libdir}/librtdyld.a"
    INTERFACE_INCLUDE_DIRECTORIES "${_rtdyld_include_dir}"
    INTERFACE_LINK_LIBRARIES "pthread;dl;m")
endif()

set(rtdyld_INCLUDE_DIRS "${_rtdyld_include_dir}")
set(rtdyld_LIBRARIES rtdyld::rtdyld)
set(rtdyld_FOUND TRUE)

unset(_rtdyld_i)
unset(_rtdyld_libdir)
unset(_rtdyld_prefix)
unset(_rtdyld_include_dir)
unset(_rtdyld_so)
unset(_rtdyld_so_real)
