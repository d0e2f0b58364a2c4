# Writes OUT, the C++ definition of the git commit `tocsin --version` prints (cli/build_info.hpp),
# from the checkout at SOURCE_DIR: run at every build (the tocsin_build_commit target), so a new
# commit is seen without a reconfigure. configure_file rewrites OUT only when its text changes, so
# an unchanged commit recompiles nothing.
#   cmake -DSOURCE_DIR=... -DOUT=... -DTEMPLATE=... [-DCOMMIT=...] -P cmake/build_commit.cmake
# COMMIT (the TOCSIN_GIT_COMMIT cache variable) overrides git: for a build from a tarball
# whose packager knows the commit. Without it and without a git checkout the text says so.
if(COMMIT)
  set(TOCSIN_COMMIT "${COMMIT}")
else()
  set(TOCSIN_COMMIT "unknown: not built from a git checkout")
  find_program(GIT git)
  if(GIT AND EXISTS "${SOURCE_DIR}/.git")
    execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                    OUTPUT_VARIABLE head RESULT_VARIABLE head_status
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(head_status EQUAL 0 AND head)
      set(TOCSIN_COMMIT "${head}")
      # Tracked files changed since that commit: the binary is not that commit's.
      execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
                      OUTPUT_VARIABLE changes RESULT_VARIABLE status_status ERROR_QUIET)
      if(status_status EQUAL 0 AND NOT changes STREQUAL "")
        string(APPEND TOCSIN_COMMIT "-dirty")
      endif()
    endif()
  endif()
endif()
# Only characters safe inside a C++ string literal.
string(REGEX REPLACE "[^A-Za-z0-9 ()._:/+-]" "?" TOCSIN_COMMIT "${TOCSIN_COMMIT}")
configure_file("${TEMPLATE}" "${OUT}" @ONLY)
