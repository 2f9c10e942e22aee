#include "allocator_tuning.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace aeb {

namespace {

// Below glibc's ceiling for M_MMAP_THRESHOLD on 64-bit (HEAP_MAX_SIZE / 2 = 32 MiB): larger
// blocks (weights, very long prompts' scores) still come from mmap and go back on free.
constexpr int kMmapThreshold = 32 << 20;
// Freed memory kept before the heap top (or a thread arena) is given back to the kernel.
constexpr int kTrimThreshold = 512 << 20;

std::once_flag once;
std::string state = "not tuned yet";

std::string tune() {
#if defined(__GLIBC__)
  const char* opt_out = std::getenv("AEB_MALLOC_TUNING");
  if (opt_out != nullptr && std::strcmp(opt_out, "0") == 0) return "glibc defaults (AEB_MALLOC_TUNING=0)";
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) return "glibc, as GLIBC_TUNABLES sets it";
  // Trim first: setting the mmap threshold stops glibc's own adjustment of both.
  if (mallopt(M_TRIM_THRESHOLD, kTrimThreshold) != 1 || mallopt(M_MMAP_THRESHOLD, kMmapThreshold) != 1)
    return "glibc defaults (mallopt refused the thresholds)";
  return "glibc: mmap threshold 32 MiB, trim threshold 512 MiB (AEB_MALLOC_TUNING=0 keeps the defaults)";
#else
  return "not glibc: allocator defaults";
#endif
}

}  // namespace

std::string tune_allocator_for_inference() {
  std::call_once(once, [] { state = tune(); });
  return state;
}

std::string allocator_tuning_state() {
  return state;
}

}  // namespace aeb
