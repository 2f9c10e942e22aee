// Host-side token sampler over one step's logits: greedy, temperature, top-k, top-p, with a
// seeded std::mt19937_64 so a given seed reproduces the same choices.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace aeb {

struct SamplerOptions {
  double temperature = 0.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // 1 = off
  bool has_seed = false;
  uint64_t seed = 0;
};

class Sampler {
 public:
  // Throws EngineError INVALID_ARGUMENT for out-of-range options.
  explicit Sampler(const SamplerOptions& options);
  // logits: vocab values (not modified). Greedy returns the lowest index among equal maxima.
  int64_t sample(const float* logits, int64_t vocab);

 private:
  SamplerOptions opts_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;  // reused scratch
  std::vector<double> probs_;
};

int64_t argmax(const float* logits, int64_t n);

}  // namespace aeb
