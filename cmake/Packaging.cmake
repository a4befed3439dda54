# Installation and the Debian package.
#
# `cmake --install BUILD [--prefix P]` puts the two programs in P/bin, their man
# pages in P/share/man/man1, README.md, docs/qx-send.md and the example configs
# in P/share/doc/qxharness, and fixtures/ (scenarios, profiles, the flawed
# senders, ...) in P/share/qxharness. `cpack` in the build directory makes
# qxharness_<version>_<arch>.deb with the same layout under /usr; its Depends
# line is computed from the binaries by dpkg-shlibdeps (package dpkg-dev), so
# it names the libraries the build linked (libmicrohttpd12, libcurl4, ...)
# at the versions it needs. ci/package.sh builds, installs and runs it.
include(GNUInstallDirs)

install(TARGETS qx-mock qx-send RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Man pages are written by hand in man/ (tests/docs/check-man-pages.sh keeps
# them in step with --help) and installed gzipped, as Debian policy asks
# (-n: no name or time stamp, so the package is reproducible).
set(QX_MAN_PAGES qx-mock.1 qx-send.1)
set(QX_MAN_GZ)
foreach(page ${QX_MAN_PAGES})
  set(gz ${CMAKE_BINARY_DIR}/man/${page}.gz)
  add_custom_command(OUTPUT ${gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND sh -c "gzip -9n -c \"$0\" > \"$1\"" ${PROJECT_SOURCE_DIR}/man/${page} ${gz}
    DEPENDS ${PROJECT_SOURCE_DIR}/man/${page}
    COMMENT "Compressing man page ${page}"
    VERBATIM)
  list(APPEND QX_MAN_GZ ${gz})
endforeach()
add_custom_target(qx_man_pages ALL DEPENDS ${QX_MAN_GZ})
install(FILES ${QX_MAN_GZ} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

install(FILES README.md docs/qx-send.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
foreach(example workflows destinations mappings)
  install(FILES fixtures/${example}/demo.json
          DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/${example})
endforeach()
# Scenario files name each other relative to their directory, so the tree is
# installed whole; the senders and generators keep their execute bits.
install(DIRECTORY fixtures/ DESTINATION ${CMAKE_INSTALL_DATADIR}/qxharness
        USE_SOURCE_PERMISSIONS)

set(QX_PACKAGE_MAINTAINER "qxharness maintainers <maintainers@qxharness.invalid>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME qxharness)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Qualtrics JSON-event emulator and streaming sender for CI")
# CPack puts the summary first; this is the long description below it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "qx-mock emulates the Qualtrics JSON-event endpoint and the workflows behind
it, records every workflow run with its reason and serves the history over
an admin API and a web page; it also runs scenario suites (JUnit output),
grades a sender against the destination's contract and captures sample
events. qx-send maps customer profiles to JSON-event payloads and delivers
them with authentication and retries, as a marketing platform's streaming
destination does.")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${QX_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# qxharness_<version>_<arch>.deb, the Debian file name
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
