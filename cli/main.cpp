#include "cli/cli.hpp"

int main(int argc, char** argv) {
  return tocsin::cli::run(argc, argv);
}
