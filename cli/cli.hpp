#pragma once

namespace tocsin::cli {

// The `tocsin` command line (README "Running"). Returns the process exit status.
int run(int argc, char** argv);

}  // namespace tocsin::cli
