#include "harness/paths.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace lra::harness {

namespace fs = std::filesystem;

namespace {

// Repository path -> text of every embedded file. A function-local static, so registration from
// other translation units' static initializers finds it constructed.
std::map<std::string, absl::string_view>& Embedded() {
  static auto* files = new std::map<std::string, absl::string_view>;
  return *files;
}

}  // namespace

std::string SourceTree() {
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY"); ws != nullptr && *ws) return ws;
  std::error_code ec;
  if (const char* srcdir = std::getenv("TEST_SRCDIR"); srcdir != nullptr && *srcdir) {
    fs::path p = fs::path(srcdir) / "lra";
    if (fs::exists(p, ec)) return p.string();
  }
  fs::path cwd = fs::current_path(ec);
  if (!ec && fs::is_directory(cwd / "harness" / "tiers", ec)) return cwd.string();
  return "";
}

std::string RepoRoot() {
  std::string tree = SourceTree();
  if (!tree.empty()) return tree;
  std::error_code ec;
  return fs::current_path(ec).string();
}

bool RegisterEmbeddedFiles(const EmbeddedFile* files, size_t count) {
  for (size_t i = 0; i < count; ++i) Embedded().emplace(files[i].path, files[i].text);
  return true;
}

absl::StatusOr<std::optional<RepoText>> ReadRepoFile(absl::string_view relative) {
  const std::string tree = SourceTree();
  if (tree.empty()) {
    auto it = Embedded().find(std::string(relative));
    if (it == Embedded().end()) return std::nullopt;
    return RepoText{absl::StrCat("embedded:", relative), std::string(it->second)};
  }
  const fs::path path = fs::path(tree) / std::string(relative);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::UnavailableError(absl::StrCat("cannot read ", path.string(),
                                               "; check its permissions"));
  }
  return RepoText{path.string(), text.str()};
}

std::vector<std::string> ListRepoFolder(absl::string_view relative) {
  std::vector<std::string> names;
  const std::string tree = SourceTree();
  if (tree.empty()) {
    const std::string prefix = absl::StrCat(relative, "/");
    for (auto it = Embedded().lower_bound(prefix);
         it != Embedded().end() && absl::StartsWith(it->first, prefix); ++it) {
      const std::string name = it->first.substr(prefix.size());
      if (name.find('/') == std::string::npos) names.push_back(name);
    }
    return names;  // already sorted: a map's order
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(tree) / std::string(relative), ec)) {
    if (entry.is_regular_file(ec)) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string RepoFilesOrigin() {
  const std::string tree = SourceTree();
  if (!tree.empty()) return absl::StrCat("the source tree ", tree);
  return absl::StrCat("the ", Embedded().size(),
                      " files embedded in this binary; no source tree: not under `bazel run`, "
                      "and the current directory has no harness/tiers");
}

std::string DefaultDataDir() { return (fs::path(RepoRoot()) / "data").string(); }
std::string DefaultResultsDir() { return (fs::path(RepoRoot()) / "results").string(); }
std::string DefaultRunsDir() { return (fs::path(RepoRoot()) / "results" / "runs").string(); }

}  // namespace lra::harness
