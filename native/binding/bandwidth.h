// Memory-read bandwidth probe for benchmarks: the decode-rate limit of a batch-1 LLM is
// bandwidth / weight bytes per token. Pure C++, no torch.
#pragma once

#include <cstddef>

namespace aeb_binding {

struct BandwidthResult {
  double best_gb_per_s = 0;   // best of `repeats` passes
  double median_gb_per_s = 0;
  size_t bytes = 0;
  int threads = 0;
  int repeats = 0;
};

// Sums a freshly allocated `bytes` buffer split across `threads` threads, `repeats` times.
BandwidthResult MeasureReadBandwidth(size_t bytes, int threads, int repeats);

}  // namespace aeb_binding
