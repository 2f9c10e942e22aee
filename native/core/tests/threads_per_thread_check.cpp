// Two model threads asking for different intra-op thread counts (two models loaded with
// different `threads`) must each keep their own through set_intraop_threads (cpu_threads.h),
// which the generation loop calls on the model's thread before every generation. Plain
// at::set_num_threads fails this check on libtorch 1.13: the thread's first parallel call
// lazily re-applies the count the other thread set last. (OpenBLAS's pool is process-wide
// in any case.)
#include <ATen/Parallel.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cpu_threads.h"

namespace {

// Threads that ran chunks of one parallel_for big enough to be split.
int threads_used() {
  std::vector<std::atomic<int>> seen(64);
  at::parallel_for(0, 1 << 16, 1, [&](int64_t, int64_t) {
    const int t = at::get_thread_num();
    if (t >= 0 && t < 64) seen[t].store(1);
  });
  int n = 0;
  for (auto& s : seen) n += s.load();
  return n;
}

}  // namespace

int main() {
  // With libtorch's native thread-pool backend the count is process-wide by design: nothing
  // per thread to check (the generation loop then warns when two models differ).
  if (at::get_parallel_info().find("OpenMP") == std::string::npos) {
    std::printf("skipped: libtorch's parallel backend is not OpenMP\n");
    return 0;
  }
  std::atomic<int> ready{0};
  std::atomic<int> failures{0};
  auto worker = [&](int wanted) {
    aeb::set_intraop_threads(wanted);
    ready.fetch_add(1);
    while (ready.load() < 2) std::this_thread::yield();  // both have set their count
    for (int round = 0; round < 20; ++round) {
      const int got = at::get_num_threads();
      const int used = threads_used();
      if (got != wanted || used > wanted) {
        std::fprintf(stderr, "thread asking for %d: get_num_threads %d, parallel_for used %d\n", wanted, got, used);
        failures.fetch_add(1);
        return;
      }
    }
  };
  std::thread a(worker, 1), b(worker, 2);
  a.join();
  b.join();
  std::printf("%s: per-thread intra-op counts (%s)\n", failures.load() == 0 ? "ok" : "FAILED", at::get_parallel_info().c_str());
  return failures.load() == 0 ? 0 : 1;
}
