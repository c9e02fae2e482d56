#include "tasks/registry.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status_macros.h"
#include "datasets/dataset.h"
#include "core/base/file_util.h"
#include "tasks/common/spec.h"

namespace lra::tasks {
namespace {

absl::Status Cancelled() {
  return absl::CancelledError(
      "interrupted; the temporary files were removed and any existing dataset is unchanged. "
      "Run the same prepare again to redo it");
}

// Streams a converter's examples into a DatasetWriter, counting them per split and reporting
// progress every 1,000.
class WriterSink : public ExampleSink {
 public:
  WriterSink(datasets::DatasetWriter* writer, const TaskContext& context, int64_t expected)
      : writer_(writer), context_(context), expected_(expected) {}
  absl::Status Add(absl::string_view split, const datasets::Example& example) override {
    if (context_.cancelled && context_.cancelled()) return Cancelled();
    ++counts_[std::string(split)];
    if (context_.progress && ++added_ % 1000 == 0) {
      context_.progress("converting", added_, expected_);
    }
    return writer_->Add(split, example);
  }
  int64_t count(const std::string& split) const {
    auto it = counts_.find(split);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  datasets::DatasetWriter* writer_;
  const TaskContext& context_;
  const int64_t expected_;  // 0 when unknown
  int64_t added_ = 0;
  std::map<std::string, int64_t> counts_;
};

// Every split of the task must have examples: the writer only records a split at its first
// example, so an empty one would otherwise vanish from the manifest without a word.
absl::Status CheckNoEmptySplit(const TaskSpec& spec, const WriterSink& sink,
                               const std::string& source, bool generated) {
  for (const SplitSpec& split : spec.splits()) {
    if (sink.count(split.name()) > 0) continue;
    return absl::FailedPreconditionError(absl::StrCat(
        spec.name(), ": split ", split.name(), " (", split.note(), ") got no examples from ",
        source, "; ",
        generated ? "pass a larger --size so that every split gets some"
                  : "the source is incomplete: fetch and extract the original files again"));
  }
  return absl::OkStatus();
}

struct Resolved {
  const TaskSpec* spec = nullptr;
  TaskHooks hooks;
  TaskContext context;
  int64_t size = 0;  // with generate
  // One canonical line of every choice that shapes the output; stored in the manifest
  // (provenance option "request") and compared when the dataset already exists.
  std::string request;
};

// --max_length: the encoding's length, else the task's; an override only where the spec gives a
// range (Text).
absl::StatusOr<int> ResolveMaxLength(const TaskSpec& spec, const Encoding& encoding,
                                     int requested) {
  const int fixed = encoding.max_length() > 0 ? encoding.max_length() : spec.max_length();
  if (requested == 0) return fixed;
  if (spec.min_max_length() == 0) {
    if (requested == fixed) return fixed;
    std::vector<std::string> ranged;
    for (const std::string& name : ListTasks()) {
      const TaskSpec& t = **GetTaskSpec(name);
      if (t.min_max_length() > 0)
        ranged.push_back(
            absl::StrCat(name, " (", t.min_max_length(), "..", t.max_max_length(), ")"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "task ", spec.name(), " has a fixed max length of ", fixed,
        "; --max_length applies to ", absl::StrJoin(ranged, " and ")));
  }
  if (requested < spec.min_max_length() || requested > spec.max_max_length()) {
    return absl::InvalidArgumentError(absl::StrCat("--max_length=", requested, " for ",
                                                   spec.name(), " must be in [",
                                                   spec.min_max_length(), ", ",
                                                   spec.max_max_length(), "]"));
  }
  return requested;
}

// The names of the tasks whose spec satisfies `has_field` (for "--x applies to ..." errors).
template <typename HasField>
std::string TasksWith(HasField has_field) {
  std::vector<std::string> names;
  for (const std::string& name : ListTasks()) {
    if (has_field(**GetTaskSpec(name))) names.push_back(name);
  }
  return absl::StrJoin(names, ", ");
}

// --split: one of the spec's split conventions (the first by default); "" for a task with fixed
// splits.
absl::StatusOr<std::string> ResolveSplitConvention(const TaskSpec& spec,
                                                   const std::string& requested) {
  if (spec.split_conventions_size() == 0) {
    if (requested.empty()) return std::string();
    return absl::InvalidArgumentError(absl::StrCat(
        "task ", spec.name(), " has fixed splits; --split applies to ",
        TasksWith([](const TaskSpec& t) { return t.split_conventions_size() > 1; })));
  }
  const std::string want = requested.empty() ? spec.split_conventions(0) : requested;
  for (const std::string& s : spec.split_conventions()) {
    if (s == want) return want;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown split convention --split=", want, " for ", spec.name(),
      "; known: ", absl::StrJoin(spec.split_conventions(), ", ")));
}

// --difficulty: a difficulty name or its release folder name (the first by default); "" for a
// task without difficulties.
absl::StatusOr<std::string> ResolveDifficulty(const TaskSpec& spec,
                                              const std::string& requested) {
  if (spec.difficulties_size() == 0) {
    if (requested.empty()) return std::string();
    return absl::InvalidArgumentError(absl::StrCat(
        "task ", spec.name(), " has no difficulties; --difficulty applies to ",
        TasksWith([](const TaskSpec& t) { return t.difficulties_size() > 0; })));
  }
  const std::string want = requested.empty() ? spec.difficulties(0).name() : requested;
  std::vector<std::string> names;
  for (const Difficulty& d : spec.difficulties()) {
    if (d.name() == want || d.folder() == want) return d.name();
    names.push_back(d.name());
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown difficulty '", want, "' for ",
                                                 spec.name(), "; known: ",
                                                 absl::StrJoin(names, ", ")));
}

// --generate / --source / --size: sets r->size or r->context.source; returns the request's
// source part ("generate=... size=... seed=..." or "source=...").
absl::StatusOr<std::string> ResolveSource(const PrepareOptions& o, Resolved* r) {
  const TaskSpec& spec = *r->spec;
  if (o.generate) {
    if (r->hooks.generate == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "task ", spec.name(), " has no generator; prepare it from its files with --source (",
          spec.source_formats_size() > 0 ? spec.source_formats(0).description() : "", ")"));
    }
    if (!o.source.empty()) {
      return absl::InvalidArgumentError("give either --source or --generate, not both");
    }
    r->size = o.size > 0 ? o.size : spec.default_generate_size();
    return absl::StrCat("generate=", spec.generate(), " size=", r->size, " seed=", o.seed);
  }
  if (o.size != 0) {
    return absl::InvalidArgumentError("--size applies only with --generate");
  }
  r->context.source = o.source.empty() ? spec.default_source() : o.source;
  if (r->context.source.empty()) {
    std::vector<std::string> formats;
    for (const SourceFormat& f : spec.source_formats()) formats.push_back(f.description());
    return absl::InvalidArgumentError(absl::StrCat(
        "task ", spec.name(), " needs --source: ", absl::StrJoin(formats, "; or "),
        r->hooks.generate != nullptr ? absl::StrCat("; or --generate (", spec.generate(), ")")
                                     : std::string()));
  }
  return absl::StrCat("source=", r->context.source);
}

// The canonical request line stored in the manifest (see Resolved::request).
std::string RequestLine(const Resolved& r, const std::string& source_part, uint64_t seed) {
  const TaskSpec& spec = *r.spec;
  const TaskContext& c = r.context;
  std::string request = absl::StrCat("task=", spec.name(), " encoding=", c.encoding->name(),
                                     " max_length=", c.max_length, " ", source_part);
  if (!c.split_convention.empty()) {
    absl::StrAppend(&request, " split=", c.split_convention);
    if (c.split_convention == "random") absl::StrAppend(&request, " seed=", seed);
  }
  if (!c.difficulty.empty()) absl::StrAppend(&request, " difficulty=", c.difficulty);
  // Fashion-MNIST's line has carried its seed a second time since its first release; kept, so
  // the datasets prepared since then still match their request.
  if (spec.name() == "fashion_mnist") absl::StrAppend(&request, " seed=", seed);
  return request;
}

// Every option checked against the spec, in the order a user reads the errors: task, encoding,
// length, splits, difficulty, source.
absl::StatusOr<Resolved> Resolve(const PrepareOptions& o) {
  Resolved r;
  LRA_ASSIGN_OR_RETURN(r.spec, GetTaskSpec(o.task));
  LRA_ASSIGN_OR_RETURN(r.hooks, GetTaskHooks(o.task));
  const TaskSpec& spec = *r.spec;
  TaskContext& c = r.context;
  c.spec = r.spec;
  c.seed = o.seed;
  c.progress = o.progress;
  c.cancelled = o.cancelled;
  LRA_ASSIGN_OR_RETURN(c.encoding, FindEncoding(spec, o.encoding));
  LRA_ASSIGN_OR_RETURN(c.max_length, ResolveMaxLength(spec, *c.encoding, o.max_length));
  LRA_ASSIGN_OR_RETURN(c.split_convention, ResolveSplitConvention(spec, o.split_convention));
  LRA_ASSIGN_OR_RETURN(c.difficulty, ResolveDifficulty(spec, o.difficulty));
  LRA_ASSIGN_OR_RETURN(const std::string source_part, ResolveSource(o, &r));
  r.request = RequestLine(r, source_part, o.seed);
  return r;
}

// Split sizes against the release's, as notes (a partial source is allowed, but said).
void CheckSplitSizes(const TaskSpec& spec, const datasets::Manifest& manifest,
                     std::vector<std::string>* notes) {
  for (const SplitSpec& expected : spec.splits()) {
    int64_t found = 0;
    for (const datasets::Split& s : manifest.splits()) {
      if (s.name() == expected.name()) found = s.num_examples();
    }
    if (expected.expected_size() > 0 && found != expected.expected_size()) {
      notes->push_back(absl::StrCat("split ", expected.name(), ": ", found,
                                    " examples; the full ", spec.display_name(), " has ",
                                    expected.expected_size()));
    }
  }
}

// An existing dataset in out_dir: the same request is a no-op (its manifest is returned);
// anything else needs --overwrite. nullopt when there is none, or with --overwrite.
absl::StatusOr<std::optional<datasets::Manifest>> FindSameDataset(
    const PrepareOptions& options, const Resolved& r) {
  if (!PathExists(options.out_dir) || options.overwrite) return std::nullopt;
  absl::StatusOr<datasets::Manifest> found = datasets::ReadManifest(options.out_dir);
  if (!found.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.out_dir, " exists but holds no readable dataset (", found.status().message(),
        "); remove it or pass --overwrite"));
  }
  auto it = found->provenance().options().find("request");
  const std::string previous = it == found->provenance().options().end() ? "" : it->second;
  if (previous != r.request) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.out_dir, " already holds a dataset prepared with [", previous, "], not [",
        r.request, "]; pass --overwrite to replace it or choose another folder"));
  }
  return *std::move(found);
}

// Writes the generated source, in the original format, into `scratch` (into its difficulty
// folder for Pathfinder/Path-X) and points the context at it.
absl::Status GenerateSource(const PrepareOptions& options, const std::string& scratch,
                            Resolved* r) {
  if (options.keep_source.empty()) LRA_RETURN_IF_ERROR(RemoveTree(scratch));
  LRA_RETURN_IF_ERROR(MakeDirs(scratch));
  std::string target = scratch;
  for (const Difficulty& d : r->spec->difficulties()) {
    if (d.name() == r->context.difficulty) target = JoinPath(scratch, d.folder());
  }
  const absl::Status generated = r->hooks.generate(r->context, r->size, target);
  if (r->context.cancelled && r->context.cancelled()) return Cancelled();
  LRA_RETURN_IF_ERROR(generated);
  r->context.source = scratch;
  return absl::OkStatus();
}

// The manifest fields known before the first example: the spec's constants, the plan's
// vocabulary and provenance, and the request line.
datasets::Manifest ManifestHeader(const PrepareOptions& options, const Resolved& r,
                                  const Plan& plan) {
  const TaskSpec& spec = *r.spec;
  datasets::Manifest header;
  header.set_task(spec.name());
  header.set_preprocessing_version(spec.preprocessing_version());
  *header.mutable_vocab() = plan.vocab;
  header.set_max_length(r.context.max_length);
  header.set_num_classes(spec.num_classes());
  header.set_pair(spec.pair());
  header.set_encoding(r.context.encoding->name());
  datasets::Provenance& provenance = *header.mutable_provenance();
  provenance = plan.provenance;
  if (options.generate) {
    provenance.set_kind(spec.generate() == "synthetic" ? datasets::Provenance::SYNTHETIC
                                                       : datasets::Provenance::GENERATED);
    provenance.set_generator(r.hooks.generator_name);
    provenance.set_seed(options.seed);
    (*provenance.mutable_options())["generated_size"] = absl::StrCat(r.size);
    if (options.keep_source.empty()) {
      provenance.clear_source_files();  // the temporary copy is deleted
    }
  }
  (*provenance.mutable_options())["request"] = r.request;
  return header;
}

// Runs the plan into a new dataset at out_dir. Over an existing one (--overwrite) it builds
// beside it, then swaps, so a failed run keeps the old one.
absl::Status WriteDataset(const PrepareOptions& options, const Resolved& r, const Plan& plan,
                          const datasets::Manifest& header, RunStats* stats) {
  const bool exists = PathExists(options.out_dir);
  const std::string target = exists ? options.out_dir + ".new" : options.out_dir;
  if (exists) LRA_RETURN_IF_ERROR(RemoveTree(target));
  LRA_ASSIGN_OR_RETURN(std::unique_ptr<datasets::DatasetWriter> writer,
                       datasets::DatasetWriter::Create(target, header));
  WriterSink sink(writer.get(), r.context, options.generate ? r.size : 0);
  LRA_RETURN_IF_ERROR(plan.run(&sink, stats));
  LRA_RETURN_IF_ERROR(CheckNoEmptySplit(
      *r.spec, sink,
      options.generate ? absl::StrCat("the generated source (--size=", r.size, ")")
                       : r.context.source,
      options.generate));
  LRA_RETURN_IF_ERROR(writer->Finish());
  if (exists) {
    LRA_RETURN_IF_ERROR(RemoveTree(options.out_dir));
    if (std::rename(target.c_str(), options.out_dir.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("cannot rename ", target, " to ", options.out_dir));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string ProvenanceKindName(datasets::Provenance::Kind kind) {
  switch (kind) {
    case datasets::Provenance::RELEASE:
      return "release";
    case datasets::Provenance::GENERATED:
      return "generated";
    case datasets::Provenance::SYNTHETIC:
      return "synthetic";
    case datasets::Provenance::SYSTEM:
      return "system";
    default:
      return "unknown";
  }
}

absl::StatusOr<std::string> DefaultDatasetDir(const std::string& data_root,
                                              const PrepareOptions& options) {
  LRA_ASSIGN_OR_RETURN(Resolved r, Resolve(options));
  const TaskSpec& spec = *r.spec;
  std::string name = spec.name();
  if (options.generate) absl::StrAppend(&name, "-", spec.generate());
  if (spec.difficulties_size() > 0 && r.context.difficulty != spec.difficulties(0).name()) {
    absl::StrAppend(&name, "-", r.context.difficulty);
  }
  if (spec.split_conventions_size() > 0 &&
      r.context.split_convention != spec.split_conventions(0)) {
    absl::StrAppend(&name, "-", r.context.split_convention);
  }
  if (r.context.encoding->name() != spec.default_encoding()) {
    absl::StrAppend(&name, "-", r.context.encoding->name());
  }
  const int default_length = r.context.encoding->max_length() > 0
                                 ? r.context.encoding->max_length()
                                 : spec.max_length();
  if (r.context.max_length != default_length) absl::StrAppend(&name, "-L", r.context.max_length);
  return JoinPath(data_root, name);
}

// Resolve the options, stop if the same dataset is there, generate the source if asked, plan,
// write, then read the manifest back.
absl::Status PrepareTask(const PrepareOptions& options, PrepareReport* report) {
  const auto start = std::chrono::steady_clock::now();
  PrepareReport local;
  PrepareReport& rep = report != nullptr ? *report : local;
  rep = PrepareReport();
  if (options.out_dir.empty()) return absl::InvalidArgumentError("PrepareTask: no out_dir");
  LRA_ASSIGN_OR_RETURN(Resolved r, Resolve(options));
  rep.out_dir = options.out_dir;
  LRA_ASSIGN_OR_RETURN(std::optional<datasets::Manifest> same, FindSameDataset(options, r));
  if (same.has_value()) {
    rep.already_present = true;
    rep.manifest = *std::move(same);
    return absl::OkStatus();
  }

  // Generated sources are written in the original format first, then converted like any
  // other source. The temporary copy goes on every way out, an error or a cancel included.
  std::string scratch;
  struct RemoveScratch {
    const std::string* dir;
    bool keep;
    ~RemoveScratch() {
      if (!keep && !dir->empty()) (void)RemoveTree(*dir);
    }
  } remove_scratch{&scratch, !options.keep_source.empty()};
  if (options.generate) {
    scratch = options.keep_source.empty() ? options.out_dir + ".source.tmp" : options.keep_source;
    LRA_RETURN_IF_ERROR(GenerateSource(options, scratch, &r));
  }
  LRA_ASSIGN_OR_RETURN(Plan plan, r.hooks.plan(r.context));
  LRA_RETURN_IF_ERROR(
      WriteDataset(options, r, plan, ManifestHeader(options, r, plan), &rep.stats));
  if (options.generate && options.keep_source.empty()) {
    LRA_RETURN_IF_ERROR(RemoveTree(scratch));
    scratch.clear();
  }
  LRA_ASSIGN_OR_RETURN(rep.manifest, datasets::ReadManifest(options.out_dir));
  if (!options.generate) CheckSplitSizes(*r.spec, rep.manifest, &rep.stats.notes);
  rep.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DatasetInfo>> DescribeData(const std::string& data_root,
                                                      std::vector<DamagedDataset>* damaged) {
  std::vector<DatasetInfo> found;
  if (!IsDirectory(data_root)) return found;
  LRA_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(data_root));
  for (const std::string& name : names) {
    const std::string dir = JoinPath(data_root, name);
    if (!PathExists(JoinPath(dir, "manifest.pb"))) {
      // A writer's temporary folder (<dir>.tmp.<pid>) is not a dataset; a folder with shards or
      // manifest.txt but no manifest.pb is one that lost its manifest.
      if (damaged == nullptr || !IsDirectory(dir) || name.find(".tmp") != std::string::npos ||
          name.find(".new") != std::string::npos) {
        continue;
      }
      absl::StatusOr<std::vector<std::string>> files = ListDir(dir);
      bool looks_like_dataset = false;
      if (files.ok()) {
        for (const std::string& f : *files) {
          looks_like_dataset |= f == "manifest.txt" || absl::EndsWith(f, ".tfrecord");
        }
      }
      if (looks_like_dataset) {
        damaged->push_back({dir, absl::DataLossError(absl::StrCat(
                                     JoinPath(dir, "manifest.pb"),
                                     " is missing but the folder holds dataset files"))});
      }
      continue;
    }
    absl::StatusOr<datasets::Manifest> manifest = datasets::ReadManifest(dir);
    if (!manifest.ok()) {  // a damaged folder; `lra verify` reports it
      if (damaged != nullptr) damaged->push_back({dir, manifest.status()});
      continue;
    }
    found.push_back({dir, *std::move(manifest)});
  }
  return found;
}

std::string FormatTaskList(const std::vector<DatasetInfo>& datasets) {
  std::string out;
  for (const std::string& name : ListTasks()) {
    const TaskSpec& spec = **GetTaskSpec(name);
    std::vector<std::string> encodings;
    for (const Encoding& e : spec.encodings()) encodings.push_back(e.name());
    absl::StrAppend(&out, spec.name(), " (", spec.display_name(), "): length ",
                    spec.max_length(), spec.pair() ? " per document, pair" : "", ", ",
                    spec.num_classes(), " classes, encodings ", absl::StrJoin(encodings, "/"),
                    spec.generate().empty() ? "" : absl::StrCat(", --generate: ", spec.generate()),
                    "\n");
    int shown = 0;
    for (const DatasetInfo& d : datasets) {
      if (d.manifest.task() != name) continue;
      ++shown;
      std::vector<std::string> counts;
      for (const datasets::Split& s : d.manifest.splits()) {
        counts.push_back(absl::StrCat(s.name(), " ", s.num_examples()));
      }
      std::vector<std::string> opts;
      for (const auto& [k, v] : std::map<std::string, std::string>(
               d.manifest.provenance().options().begin(),
               d.manifest.provenance().options().end())) {
        if (k != "request") opts.push_back(absl::StrCat(k, "=", v));
      }
      absl::StrAppend(&out, "  ", d.dir, ": ", ProvenanceKindName(d.manifest.provenance().kind()),
                      ", ", absl::StrJoin(counts, " / "), ", encoding ", d.manifest.encoding(),
                      ", length ", d.manifest.max_length(),
                      opts.empty() ? "" : absl::StrCat(", ", absl::StrJoin(opts, ", ")), "\n");
    }
    if (shown == 0) absl::StrAppend(&out, "  (not prepared)\n");
  }
  return out;
}

}  // namespace lra::tasks
