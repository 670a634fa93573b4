#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"ccfs: Claude Code config directories on object storage"};
  CLI11_PARSE(app, argc, argv);
  return 0;
}
