#include "server/cli.hpp"

int main(int argc, char** argv) {
  return tocsin::run_cli(argc, argv);
}
