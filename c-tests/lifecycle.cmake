# C tests of the lifecycle features (issue 3): unwind tables, constructors,
# TLS, COMDAT, IFUNC, removal, debugger and perf map, runtime helpers.
# Included from c-tests/CMakeLists.txt after its helpers
# (rtdyld_c_test, rtdyld_program_test, FIXTURE_SRC, FIXTURE_DIR) exist.
#
# Test objects are built from c-tests/fixtures/lc_* with gcc and g++; each
# test program gets them on its command line.

find_program(RTDYLD_FIXTURE_CXX NAMES g++ c++ DOC "C++ compiler for the test objects")
if(NOT RTDYLD_FIXTURE_CXX)
  set(RTDYLD_FIXTURE_CXX "${CMAKE_CXX_COMPILER}")
endif()

set(LC_FIXTURE_OBJECTS "")
# lc_fixture(<output .o> <source> [flags...]): compiles with gcc (.c) or
# g++ (.cpp) and exactly the flags given.
function(lc_fixture output source)
  if(source MATCHES "\\.cpp$")
    set(compiler "${RTDYLD_FIXTURE_CXX}")
  else()
    set(compiler "${RTDYLD_FIXTURE_CC}")
  endif()
  add_custom_command(
    OUTPUT "${FIXTURE_DIR}/${output}"
    COMMAND "${compiler}" -c ${ARGN} -o "${FIXTURE_DIR}/${output}" "${FIXTURE_SRC}/${source}"
    DEPENDS "${FIXTURE_SRC}/${source}"
    COMMENT "Building test object ${output}"
    VERBATIM)
  set(LC_FIXTURE_OBJECTS ${LC_FIXTURE_OBJECTS} "${FIXTURE_DIR}/${output}" PARENT_SCOPE)
endfunction()

# 1. Unwinding (no sibling calls, so that every JIT'd frame stays).
lc_fixture(lc_unwind.o lc_unwind.cpp -O1 -fPIC -fexceptions -fno-optimize-sibling-calls)
# 2. Constructors and destructors.
lc_fixture(lc_ctor_a.o lc_ctor_a.c -O2 -fPIC)
lc_fixture(lc_ctor_b.o lc_ctor_b.c -O0 -fno-pic)
lc_fixture(lc_ctor_legacy.o lc_ctor_legacy.c -O2 -fPIC)
lc_fixture(lc_ctor_cxx.o lc_ctor_cxx.cpp -O2 -fPIC)
# 3. TLS: general dynamic (and local dynamic), initial exec, local exec.
lc_fixture(lc_tls_gd_def.o lc_tls_def.c -O2 -fPIC)
lc_fixture(lc_tls_gd_use.o lc_tls_use.c -O2 -fPIC)
lc_fixture(lc_tls_ie_def.o lc_tls_def.c -O2 -fPIC -ftls-model=initial-exec)
lc_fixture(lc_tls_ie_use.o lc_tls_use.c -O2 -fPIC -ftls-model=initial-exec)
lc_fixture(lc_tls_le_def.o lc_tls_def.c -O2 -fno-pic)
lc_fixture(lc_tls_le_use.o lc_tls_use.c -O2 -fno-pic)
lc_fixture(lc_tls_cxx_pic.o lc_tls_cxx.cpp -O2 -fPIC)
lc_fixture(lc_tls_cxx_nopic.o lc_tls_cxx.cpp -O2 -fno-pic)
# 4. COMDAT: one source, two objects.
lc_fixture(lc_comdat_a.o lc_comdat.cpp -O0 -fPIC -DSIDE=a)
lc_fixture(lc_comdat_b.o lc_comdat.cpp -O0 -fPIC -DSIDE=b)
# 5. IFUNC.
lc_fixture(lc_ifunc_def.o lc_ifunc_def.c -O2 -fPIC)
lc_fixture(lc_ifunc_use.o lc_ifunc_use.c -O2 -fno-pic)
lc_fixture(lc_ifunc_use_pic.o lc_ifunc_use.c -O2 -fPIC -Dother=other_pic -Dother_f_ptr=other_f_ptr_pic)
# 6. Removal.
lc_fixture(lc_remove_strong.o lc_remove_strong.c -O2 -fPIC)
lc_fixture(lc_remove_weak.o lc_remove_weak.c -O2 -fPIC)
lc_fixture(lc_remove_user.o lc_remove_user.c -O2 -fPIC)
# 7. Debugger and perf map (with debug information).
lc_fixture(lc_debug_jit.o lc_debug_jit.c -O1 -g -fPIC)
# 8. Runtime helpers. lc_atexit_nts.o needs nothing from libstdc++ (no
# thread-safe statics: no __cxa_guard_*); lc_atexit.o takes those from it.
lc_fixture(lc_ssp.o lc_ssp.c -O2 -fPIC -fstack-protector-all)
lc_fixture(lc_atexit_nts.o lc_atexit.cpp -O2 -fPIC -fno-threadsafe-statics)
lc_fixture(lc_atexit.o lc_atexit.cpp -O2 -fPIC)

# 1b. Exceptions between JIT'd code and a C++ host.
lc_fixture(lc_throw.o lc_throw.cpp -O2 -fPIC)

add_custom_target(lc_test_fixtures ALL DEPENDS ${LC_FIXTURE_OBJECTS})

# lc_test(<name> <sources...>): a C test program (rtdyld_c_test) that also
# depends on the lifecycle fixtures.
function(lc_test name)
  rtdyld_c_test(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE ${CMAKE_DL_LIBS})
  add_dependencies(${name} lc_test_fixtures)
endfunction()

set(_lc "${FIXTURE_DIR}")

lc_test(test_lc_unwind lc_unwind.c memfd_mm.c)
# Its host_call frame has a cleanup that runs while an exception passes.
target_compile_options(test_lc_unwind PRIVATE -fexceptions)
rtdyld_program_test(lc_unwind test_lc_unwind "${_lc}/lc_unwind.o")

# A C++ host that catches what JIT'd code throws, also through a JIT'd frame.
lc_test(test_lc_host_catch lc_host_catch.cpp)
set_target_properties(test_lc_host_catch PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
rtdyld_program_test(lc_host_catch test_lc_host_catch "${_lc}/lc_throw.o")

lc_test(test_lc_constructors lc_constructors.c)
rtdyld_program_test(lc_constructors test_lc_constructors
  "${_lc}/lc_ctor_a.o" "${_lc}/lc_ctor_b.o" "${_lc}/lc_ctor_legacy.o" "${_lc}/lc_ctor_cxx.o")

find_package(Threads REQUIRED)
lc_test(test_lc_tls lc_tls.c)
target_link_libraries(test_lc_tls PRIVATE Threads::Threads)
rtdyld_program_test(lc_tls test_lc_tls
  "${_lc}/lc_tls_gd_def.o" "${_lc}/lc_tls_gd_use.o"
  "${_lc}/lc_tls_ie_def.o" "${_lc}/lc_tls_ie_use.o"
  "${_lc}/lc_tls_le_def.o" "${_lc}/lc_tls_le_use.o"
  "${_lc}/lc_tls_cxx_pic.o" "${_lc}/lc_tls_cxx_nopic.o")

lc_test(test_lc_comdat lc_comdat.c)
rtdyld_program_test(lc_comdat test_lc_comdat "${_lc}/lc_comdat_a.o" "${_lc}/lc_comdat_b.o")

lc_test(test_lc_ifunc lc_ifunc.c)
rtdyld_program_test(lc_ifunc test_lc_ifunc
  "${_lc}/lc_ifunc_def.o" "${_lc}/lc_ifunc_use.o" "${_lc}/lc_ifunc_use_pic.o")

lc_test(test_lc_remove lc_remove.c)
rtdyld_program_test(lc_remove test_lc_remove
  "${_lc}/lc_remove_strong.o" "${_lc}/lc_remove_weak.o" "${_lc}/lc_remove_user.o")

lc_test(test_lc_debugger lc_debugger.c)
# Host frames with names and lines in gdb's backtrace.
target_compile_options(test_lc_debugger PRIVATE -g)
rtdyld_program_test(lc_debugger_program test_lc_debugger "${_lc}/lc_debug_jit.o")
add_test(NAME lc_debugger
  COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/lc_debugger.sh" $<TARGET_FILE:test_lc_debugger>
          "${_lc}/lc_debug_jit.o" "${FIXTURE_SRC}/lc_debug_jit.c")
# LeakSanitizer cannot run under ptrace (gdb); the leak check of this
# program is lc_debugger_program's.
set_tests_properties(lc_debugger PROPERTIES LABELS debugger TIMEOUT 120
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")

lc_test(test_lc_perf_map lc_perf_map.c)
rtdyld_program_test(lc_perf_map test_lc_perf_map "${_lc}/lc_debug_jit.o")

lc_test(test_lc_runtime_helpers lc_runtime_helpers.c)
rtdyld_program_test(lc_runtime_helpers test_lc_runtime_helpers
  "${_lc}/lc_ssp.o" "${_lc}/lc_atexit_nts.o" "${_lc}/lc_tls_gd_def.o" "${_lc}/lc_atexit.o")

# Real C++ programs: our own (STL, exceptions, static objects, thread_local,
# threads) and two code bases fetched from crates.io at test time (snappy,
# Jsonnet), in several g++/clang++ flavours, against their system-linked builds.
rtdyld_real_program_test(cxx 1800)
