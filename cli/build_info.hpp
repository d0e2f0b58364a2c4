#pragma once
// What `tocsin --version` says besides the version number (core/version.hpp): the git commit the
// binary was built from, written by cmake/build_commit.cmake at every build. A short hash,
// "-dirty" when tracked files differed from it, or "unknown: not built from a git checkout".

namespace tocsin::cli {

extern const char* const k_build_commit;

}  // namespace tocsin::cli
