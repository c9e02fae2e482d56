// lra: the Long Range Arena harness. `lra --help` lists the commands and every flag.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace {

constexpr char kUsage[] = R"(lra: the Long Range Arena harness.

Usage: lra <command> [--flags]

Commands:
  help      Print this message.

Run `lra --help` for every flag.)";

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2 || std::string(args[1]) == "help") {
    std::printf("%s\n", kUsage);
    return 0;
  }
  std::fprintf(stderr, "lra: unknown command '%s'. Run `lra help` for the list.\n", args[1]);
  return 2;
}

