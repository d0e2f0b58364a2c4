#pragma once

namespace tocsin {

// The `tocsin` command line (SPEC §2). Returns the process exit status.
int run_cli(int argc, char** argv);

}  // namespace tocsin
