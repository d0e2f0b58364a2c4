#pragma once

namespace tocsin {

// The `tocsin` command line (README "Running"). Returns the process exit status.
int run_cli(int argc, char** argv);

}  // namespace tocsin
