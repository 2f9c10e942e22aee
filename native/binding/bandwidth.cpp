#include "bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

namespace aeb_binding {
namespace {

// Eight independent accumulators let the compiler vectorise and keep several loads in flight.
uint64_t SumRange(const uint64_t* p, size_t n) {
  uint64_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) a[k] += p[i + k];
  }
  for (; i < n; ++i) a[0] += p[i];
  uint64_t s = 0;
  for (uint64_t v : a) s += v;
  return s;
}

template <typename Fn>
void RunSplit(int threads, size_t words, Fn fn) {
  std::vector<std::thread> pool;
  size_t chunk = (words + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    size_t begin = std::min(words, chunk * t);
    size_t end = std::min(words, begin + chunk);
    pool.emplace_back([=] { fn(t, begin, end); });
  }
  for (auto& th : pool) th.join();
}

}  // namespace

BandwidthResult MeasureReadBandwidth(size_t bytes, int threads, int repeats) {
  if (bytes < (1u << 20)) throw std::invalid_argument("bytes must be >= 1 MiB");
  if (threads < 1 || threads > 1024) throw std::invalid_argument("threads must be in [1, 1024]");
  if (repeats < 1 || repeats > 1000) throw std::invalid_argument("repeats must be in [1, 1000]");
  size_t words = bytes / sizeof(uint64_t);
  size_t alloc = (words * sizeof(uint64_t) + 63) / 64 * 64;
  std::unique_ptr<uint64_t, decltype(&std::free)> buf(static_cast<uint64_t*>(std::aligned_alloc(64, alloc)), &std::free);
  if (!buf) throw std::bad_alloc();
  uint64_t* data = buf.get();
  // First touch from the reading threads (NUMA placement), with non-zero data.
  RunSplit(threads, words, [data](int, size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) data[i] = i;
  });
  std::vector<double> rates;
  std::vector<uint64_t> sinks(threads);
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    RunSplit(threads, words, [data, &sinks](int t, size_t b, size_t e) { sinks[t] += SumRange(data + b, e - b); });
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(words * sizeof(uint64_t)) / s / 1e9);
  }
  volatile uint64_t keep = 0;
  for (uint64_t v : sinks) keep = keep + v;  // the sums must be observable
  std::sort(rates.begin(), rates.end());
  BandwidthResult out;
  out.best_gb_per_s = rates.back();
  out.median_gb_per_s = rates[rates.size() / 2];
  out.bytes = words * sizeof(uint64_t);
  out.threads = threads;
  out.repeats = repeats;
  return out;
}

}  // namespace aeb_binding
