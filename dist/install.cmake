# Run by `cmake --install` (install(SCRIPT) in the top CMakeLists.txt): writes
# the files that name install paths, from the prefix given at install time
# (--prefix), not the one of configure time. DESTDIR is honoured.
# Set before: SSS_DIST, SSS_VERSION, SSS_BINDIR, SSS_LIBDIR, SSS_INCLUDEDIR,
# SSS_DOCDIR, SSS_UNITDIR (relative to the prefix, or absolute).
foreach(v BINDIR LIBDIR INCLUDEDIR DOCDIR UNITDIR)
  if(IS_ABSOLUTE "${SSS_${v}}")
    set(abs_${v} "${SSS_${v}}")
  else()
    set(abs_${v} "${CMAKE_INSTALL_PREFIX}/${SSS_${v}}")
  endif()
endforeach()

set(SSS_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(SSS_PC_LIBDIR "${abs_LIBDIR}")
set(SSS_PC_INCLUDEDIR "${abs_INCLUDEDIR}")
set(pc "$ENV{DESTDIR}${abs_LIBDIR}/pkgconfig/sss-client.pc")
message(STATUS "Installing: ${pc}")
configure_file("${SSS_DIST}/sss-client.pc.in" "${pc}" @ONLY)

set(SSS_BINDIR "${abs_BINDIR}")
set(SSS_DOCDIR "${abs_DOCDIR}")
set(unit "$ENV{DESTDIR}${abs_UNITDIR}/sss.service")
message(STATUS "Installing: ${unit}")
configure_file("${SSS_DIST}/sss.service.in" "${unit}" @ONLY)
