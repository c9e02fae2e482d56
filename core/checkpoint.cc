#include "core/checkpoint.h"

#include <cstring>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/file_util.h"
#include "core/checkpoint.pb.h"
#include "core/checkpoint_format.h"

namespace lra {
namespace {

void ToProto(const std::string& name, const Tensor& t, core::TensorProto* p) {
  p->set_name(name);
  for (int i = 0; i < t.rank(); ++i) p->add_shape(t.dim(i));
  p->set_dtype(static_cast<int>(t.dtype()));
  const void* data = t.dtype() == DType::kF32 ? static_cast<const void*>(t.data<float>())
                                              : static_cast<const void*>(t.data<c64>());
  p->set_data(data, t.nbytes());
}

std::string ShapeString(const core::TensorProto& p) {
  return absl::StrCat("[", absl::StrJoin(p.shape(), ", "), "]", p.dtype() == 1 ? " c64" : "");
}

// Matches `want` (name -> tensor) against protos; appends problems to `errors`.
void Match(const std::string& what, const std::vector<std::pair<std::string, Tensor>>& want,
           const google::protobuf::RepeatedPtrField<core::TensorProto>& have,
           std::map<std::string, const core::TensorProto*>* found, std::vector<std::string>* errors) {
  std::map<std::string, const core::TensorProto*> by_name;
  for (const auto& p : have) by_name[p.name()] = &p;
  std::set<std::string> wanted;
  for (const auto& [name, t] : want) {
    wanted.insert(name);
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      errors->push_back(absl::StrCat(what, " '", name, "' ", t.shape().ToString(),
                                     " is missing from the file"));
      continue;
    }
    const core::TensorProto& p = *it->second;
    bool ok = p.shape_size() == t.rank() && p.dtype() == static_cast<int>(t.dtype()) &&
              p.data().size() == t.nbytes();
    for (int i = 0; ok && i < t.rank(); ++i) ok = p.shape(i) == t.dim(i);
    if (!ok) {
      errors->push_back(absl::StrCat(what, " '", name, "': file has ", ShapeString(p),
                                     ", model has ", t.shape().ToString(),
                                     t.dtype() == DType::kC64 ? " c64" : ""));
      continue;
    }
    (*found)[name] = &p;
  }
  for (const auto& p : have)
    if (!wanted.count(p.name()))
      errors->push_back(absl::StrCat(what, " '", p.name(), "' ", ShapeString(p),
                                     " is in the file but not in the model"));
}

void CopyIn(const core::TensorProto& p, Tensor& t) {
  void* data = t.dtype() == DType::kF32 ? static_cast<void*>(t.data<float>())
                                        : static_cast<void*>(t.data<c64>());
  std::memcpy(data, p.data().data(), t.nbytes());
}

std::vector<std::pair<std::string, Tensor>> ParamTensors(const TrainingState& s) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Var& v : s.params) out.emplace_back(v.name(), v.value());
  return out;
}

std::vector<std::pair<std::string, Tensor>> OptimizerTensors(const TrainingState& s) {
  std::vector<std::pair<std::string, Tensor>> out;
  if (!s.optimizer) return out;
  const std::vector<Var> ps = s.optimizer->Parameters();
  for (size_t i = 0; i < ps.size(); ++i) {
    out.emplace_back(ps[i].name() + "/m", s.optimizer->moments()[i].m);
    out.emplace_back(ps[i].name() + "/v", s.optimizer->moments()[i].v);
  }
  return out;
}

absl::Status CheckNames(const TrainingState& s) {
  std::set<std::string> names;
  for (const Var& v : s.params) {
    if (v.name().empty())
      return absl::InvalidArgumentError("checkpoint: a parameter has no name; give every "
                                        "Parameter() a unique name");
    if (!names.insert(v.name()).second)
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: parameter name '", v.name(), "' is used twice"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SaveCheckpoint(const std::string& path, const TrainingState& s) {
  if (absl::Status st = CheckNames(s); !st.ok()) return st;
  core::CheckpointProto proto;
  proto.set_step(s.step);
  for (const auto& [name, t] : ParamTensors(s)) ToProto(name, t, proto.add_params());
  for (const auto& [name, t] : OptimizerTensors(s)) ToProto(name, t, proto.add_optimizer());
  if (s.optimizer) proto.set_optimizer_step(s.optimizer->step());
  for (const auto& [name, t] : s.buffers) ToProto(name, t, proto.add_buffers());
  for (const auto& [name, rng] : s.rngs) {
    core::RngStateProto* r = proto.add_rngs();
    r->set_name(name);
    r->set_seed(rng->state().seed);
    r->set_stream(rng->state().stream);
    r->set_counter(rng->state().counter);
  }
  proto.mutable_metadata()->insert(s.metadata.begin(), s.metadata.end());
  // A file that LoadCheckpoint would refuse (a non-finite parameter or moment, above all) is
  // never written: the previous checkpoint stays.
  if (absl::Status st = CheckCheckpointFields(proto, path); !st.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("not writing the checkpoint: ", st.message()));
  }
  absl::StatusOr<std::string> framed = FrameCheckpoint(proto, path);
  if (!framed.ok()) return framed.status();
  // <path>.tmp.<pid>, fsynced and renamed over `path` (core/base/file_util.h).
  return WriteFileAtomically(path, *framed);
}

absl::Status LoadCheckpoint(const std::string& path, TrainingState* s) {
  if (absl::Status st = CheckNames(*s); !st.ok()) return st;
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<core::CheckpointProto> parsed = ParseCheckpoint(*bytes, path);
  if (!parsed.ok()) return parsed.status();
  const core::CheckpointProto& proto = *parsed;

  std::vector<std::string> errors;
  std::map<std::string, const core::TensorProto*> pf, of, bf;
  Match("parameter", ParamTensors(*s), proto.params(), &pf, &errors);
  if (s->optimizer) Match("optimizer state", OptimizerTensors(*s), proto.optimizer(), &of, &errors);
  Match("buffer", s->buffers, proto.buffers(), &bf, &errors);
  std::map<std::string, const core::RngStateProto*> rf;
  for (const auto& r : proto.rngs()) rf[r.name()] = &r;
  for (const auto& [name, rng] : s->rngs)
    if (!rf.count(name)) errors.push_back(absl::StrCat("rng '", name, "' is missing from the file"));
  if (!errors.empty())
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": checkpoint does not match the model (", errors.size(), " problems):\n  ",
        absl::StrJoin(errors, "\n  ")));

  for (Var& v : s->params) CopyIn(*pf[v.name()], v.mutable_value());
  if (s->optimizer) {
    const std::vector<Var> ps = s->optimizer->Parameters();
    for (size_t i = 0; i < ps.size(); ++i) {
      CopyIn(*of[ps[i].name() + "/m"], s->optimizer->moments()[i].m);
      CopyIn(*of[ps[i].name() + "/v"], s->optimizer->moments()[i].v);
    }
    s->optimizer->set_step(proto.optimizer_step());
  }
  for (auto& [name, t] : s->buffers) CopyIn(*bf[name], t);
  for (auto& [name, rng] : s->rngs) {
    const core::RngStateProto& r = *rf[name];
    *rng = Rng(Rng::State{r.seed(), r.stream(), r.counter()});
  }
  s->step = proto.step();
  s->metadata.clear();
  s->metadata.insert(proto.metadata().begin(), proto.metadata().end());
  return absl::OkStatus();
}

}  // namespace lra
