#include "core/dist/group.h"

#define OMPI_SKIP_MPICXX 1  // the C API only; Debian's C++ bindings header needs an extra -I
#include <openmpi/mpi.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace lra::dist {
namespace {

template <typename T>
MPI_Datatype MpiType();
template <>
MPI_Datatype MpiType<float>() { return MPI_FLOAT; }
template <>
MPI_Datatype MpiType<double>() { return MPI_DOUBLE; }
template <>
MPI_Datatype MpiType<int64_t>() { return MPI_INT64_T; }

absl::Status MpiStatus(int code, const char* what) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return absl::InternalError(absl::StrCat(what, " failed: ", std::string(text, length),
                                          ". A peer rank may have died; see the launcher's log."));
}

// Slice r of n elements split over k ranks: the first n % k slices hold one element more.
int64_t SliceStart(int64_t n, int k, int r) { return r * (n / k) + std::min<int64_t>(r, n % k); }
int64_t SliceLength(int64_t n, int k, int r) { return n / k + (r < n % k ? 1 : 0); }

class Timer {
 public:
  explicit Timer(Traffic* traffic)
      : traffic_(traffic), start_(std::chrono::steady_clock::now()) {}
  ~Timer() {
    traffic_->seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    ++traffic_->calls;
  }

 private:
  Traffic* traffic_;
  std::chrono::steady_clock::time_point start_;
};

void FinalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

bool LaunchedByMpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

int LocalProcessCount() {
  if (!LaunchedByMpi()) return 1;
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && std::atoi(value) > 0) return std::atoi(value);
  }
  return 1;
}

Group& Group::Solo() {
  static Group* solo = new Group(0, 1, /*mpi=*/false);
  return *solo;
}

absl::StatusOr<Group*> Group::World() {
  static std::once_flag once;
  static Group* world = nullptr;
  static absl::Status init_status;
  std::call_once(once, [] {
    if (!LaunchedByMpi()) {
      world = &Solo();
      return;
    }
    int provided = 0;
    // Only the main thread calls MPI; OpenMP workers never do.
    int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (code != MPI_SUCCESS) {
      init_status = MpiStatus(code, "MPI_Init_thread");
      return;
    }
    std::atexit(FinalizeAtExit);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    world = new Group(rank, size, /*mpi=*/true);
  });
  if (!init_status.ok()) return init_status;
  return world;
}

template <typename T>
absl::Status Group::SumInOrderImpl(absl::Span<T> data, int per_rank) {
  if (per_rank < 1 || data.size() % per_rank != 0) {
    return absl::InvalidArgumentError(absl::StrCat("SumInOrder: ", data.size(),
                                                   " values are not ", per_rank, " vectors"));
  }
  const int64_t n = static_cast<int64_t>(data.size()) / per_rank;
  const int k = size_;
  if (k == 1) {  // one process: add the local vectors in order
    T* out = data.data();
    for (int j = 1; j < per_rank; ++j) {
      const T* x = out + j * n;
      for (int64_t i = 0; i < n; ++i) out[i] += x[i];
    }
    return absl::OkStatus();
  }
  Timer timer(&traffic_);
  if (int64_t{per_rank} * (n / k + 1) > INT_MAX / k) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SumInOrder: ", n, " x ", per_rank, " values over ", k, " ranks exceed MPI's int counts"));
  }
  // Reduce-scatter as an exact exchange: rank c receives slice c of every vector of every rank.
  // Pack by destination: for rank c, slice c of local vectors 0..per_rank-1.
  const int mine = static_cast<int>(SliceLength(n, k, rank_));
  std::vector<int> send_counts(k), send_offsets(k), recv_counts(k), recv_offsets(k);
  std::vector<int> gather_counts(k), gather_offsets(k);
  for (int c = 0; c < k; ++c) {
    gather_counts[c] = static_cast<int>(SliceLength(n, k, c));
    gather_offsets[c] = static_cast<int>(SliceStart(n, k, c));
    send_counts[c] = per_rank * gather_counts[c];
    send_offsets[c] = per_rank * gather_offsets[c];
    recv_counts[c] = per_rank * mine;
    recv_offsets[c] = c * per_rank * mine;
  }
  const size_t values = static_cast<size_t>(data.size()) + static_cast<size_t>(k) * per_rank * mine;
  if (scratch_.size() < sizeof(T) * values) scratch_.resize(sizeof(T) * values);
  T* packed = reinterpret_cast<T*>(scratch_.data());
  T* received = packed + data.size();
  if (per_rank == 1) {
    packed = data.data();  // already in destination order
  } else {
    for (int c = 0; c < k; ++c) {
      for (int j = 0; j < per_rank; ++j) {
        std::memcpy(packed + send_offsets[c] + int64_t{j} * gather_counts[c],
                    data.data() + j * n + gather_offsets[c], sizeof(T) * gather_counts[c]);
      }
    }
  }
  const MPI_Datatype type = MpiType<T>();
  int code = MPI_Alltoallv(packed, send_counts.data(), send_offsets.data(), type, received,
                           recv_counts.data(), recv_offsets.data(), type, MPI_COMM_WORLD);
  if (code != MPI_SUCCESS) return MpiStatus(code, "MPI_Alltoallv (gradient reduce-scatter)");

  // Sum this rank's slice strictly left to right over (rank, local vector), into its place.
  T* out = data.data() + SliceStart(n, k, rank_);
  std::memcpy(out, received, sizeof(T) * mine);
  for (int v = 1; v < k * per_rank; ++v) {
    const T* x = received + int64_t{v} * mine;
    for (int i = 0; i < mine; ++i) out[i] += x[i];
  }

  // Allgather the summed slices in place.
  code = MPI_Allgatherv(MPI_IN_PLACE, 0, type, data.data(), gather_counts.data(),
                        gather_offsets.data(), type, MPI_COMM_WORLD);
  if (code != MPI_SUCCESS) return MpiStatus(code, "MPI_Allgatherv (gradient allgather)");
  traffic_.bytes_sent += static_cast<int64_t>(sizeof(T)) *
                         (per_rank * (n - mine) + int64_t{mine} * (k - 1));
  return absl::OkStatus();
}

absl::Status Group::SumInRankOrder(absl::Span<float> data) { return SumInOrderImpl(data, 1); }
absl::Status Group::SumInRankOrder(absl::Span<double> data) { return SumInOrderImpl(data, 1); }
absl::Status Group::SumInRankOrder(absl::Span<int64_t> data) { return SumInOrderImpl(data, 1); }
absl::Status Group::SumInOrder(absl::Span<float> data, int per_rank) {
  return SumInOrderImpl(data, per_rank);
}
absl::Status Group::SumInOrder(absl::Span<double> data, int per_rank) {
  return SumInOrderImpl(data, per_rank);
}

absl::Status Group::Broadcast(std::string* bytes) {
  if (size_ == 1) return absl::OkStatus();
  Timer timer(&traffic_);
  int64_t length = static_cast<int64_t>(bytes->size());
  int code = MPI_Bcast(&length, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  if (code != MPI_SUCCESS) return MpiStatus(code, "MPI_Bcast (length)");
  if (length > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("Broadcast: ", length, " bytes exceed 2 GiB"));
  }
  bytes->resize(length);
  code = MPI_Bcast(bytes->data(), static_cast<int>(length), MPI_BYTE, 0, MPI_COMM_WORLD);
  if (code != MPI_SUCCESS) return MpiStatus(code, "MPI_Bcast");
  if (is_root()) traffic_.bytes_sent += length * (size_ - 1);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Group::AllGather(const std::string& mine) {
  if (size_ == 1) return std::vector<std::string>{mine};
  Timer timer(&traffic_);
  if (mine.size() > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("AllGather: ", mine.size(), " bytes exceed 2 GiB"));
  }
  std::vector<int> lengths(size_);
  int my_length = static_cast<int>(mine.size());
  int code = MPI_Allgather(&my_length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD);
  if (code != MPI_SUCCESS) return MpiStatus(code, "MPI_Allgather (lengths)");
  std::vector<int> offsets(size_);
  int64_t total = 0;
  for (int r = 0; r < size_; ++r) {
    if (total > INT_MAX) return absl::InvalidArgumentError("AllGather: more than 2 GiB in total");
    offsets[r] = static_cast<int>(total);
    total += lengths[r];
  }
  std::string all(total, '\0');
  code = MPI_Allgatherv(mine.data(), my_length, MPI_BYTE, all.data(), lengths.data(),
                       offsets.data(), MPI_BYTE, MPI_COMM_WORLD);
  if (code != MPI_SUCCESS) return MpiStatus(code, "MPI_Allgatherv");
  traffic_.bytes_sent += int64_t{my_length} * (size_ - 1);
  std::vector<std::string> out(size_);
  for (int r = 0; r < size_; ++r) out[r] = all.substr(offsets[r], lengths[r]);
  return out;
}

absl::Status Group::Barrier() {
  if (size_ == 1) return absl::OkStatus();
  Timer timer(&traffic_);
  return MpiStatus(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void Group::Abort(const absl::Status& why) {
  std::fprintf(stderr, "lra: rank %d of %d: %s\n", rank_, size_, why.ToString().c_str());
  std::fflush(stderr);
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

}  // namespace lra::dist
