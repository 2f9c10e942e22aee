#include "sampler.h"

#include <algorithm>
#include <cmath>

#include "engine.h"

namespace aeb {

int64_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

Sampler::Sampler(const SamplerOptions& options) : opts_(options) {
  if (!std::isfinite(options.temperature) || options.temperature < 0)
    throw EngineError("INVALID_ARGUMENT", "temperature must be a finite number >= 0");
  if (options.top_k < 0) throw EngineError("INVALID_ARGUMENT", "top_k must be >= 0");
  if (!(options.top_p > 0 && options.top_p <= 1)) throw EngineError("INVALID_ARGUMENT", "top_p must be in (0, 1]");
  if (options.has_seed) {
    rng_.seed(options.seed);
  } else {
    std::random_device rd;
    rng_.seed((static_cast<uint64_t>(rd()) << 32) ^ rd());
  }
}

int64_t Sampler::sample(const float* logits, int64_t vocab) {
  if (opts_.temperature == 0.0 || opts_.top_k == 1) return argmax(logits, vocab);

  if (opts_.top_k == 0 && opts_.top_p >= 1.0) {
    // No filtering: sample from the full softmax in index order (no sort).
    probs_.resize(static_cast<size_t>(vocab));
    const double max_logit = logits[argmax(logits, vocab)];
    double total = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      probs_[static_cast<size_t>(i)] = std::exp((static_cast<double>(logits[i]) - max_logit) / opts_.temperature);
      total += probs_[static_cast<size_t>(i)];
    }
    std::uniform_real_distribution<double> uniform(0.0, total);
    double r = uniform(rng_);
    for (int64_t i = 0; i < vocab; ++i) {
      r -= probs_[static_cast<size_t>(i)];
      if (r < 0) return i;
    }
    return vocab - 1;
  }

  candidates_.resize(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) candidates_[static_cast<size_t>(i)] = {logits[i], static_cast<int32_t>(i)};
  auto by_logit = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  size_t keep = candidates_.size();
  if (opts_.top_k > 0 && static_cast<size_t>(opts_.top_k) < keep) {
    keep = static_cast<size_t>(opts_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(), by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  // Softmax over the kept candidates at the given temperature (max subtracted for stability).
  probs_.resize(keep);
  const double max_logit = candidates_[0].first;
  double total = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs_[i] = std::exp((static_cast<double>(candidates_[i].first) - max_logit) / opts_.temperature);
    total += probs_[i];
  }
  // Nucleus: the smallest prefix whose probability reaches top_p.
  if (opts_.top_p < 1.0) {
    double cumulative = 0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += probs_[i] / total;
      if (cumulative >= opts_.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    total = 0;
    for (size_t i = 0; i < keep; ++i) total += probs_[i];
  }
  std::uniform_real_distribution<double> uniform(0.0, total);
  double r = uniform(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= probs_[i];
    if (r < 0) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace aeb
