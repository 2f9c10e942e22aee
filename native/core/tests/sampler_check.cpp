// Sampler statistics: empirical frequencies vs the softmax each option implies.
#include <cmath>
#include <cstdio>
#include <vector>

#include "engine.h"
#include "sampler.h"

namespace {

int failures = 0;

void expect_frequencies(const char* label, aeb::SamplerOptions opts, const std::vector<float>& logits,
                        const std::vector<double>& want) {
  opts.has_seed = true;
  opts.seed = 42;
  aeb::Sampler sampler(opts);
  std::vector<int> counts(logits.size(), 0);
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[static_cast<size_t>(sampler.sample(logits.data(), static_cast<int64_t>(logits.size())))];
  bool ok = true;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::fabs(counts[i] / static_cast<double>(n) - want[i]) > 0.01) ok = false;
  std::printf("%s %s:", ok ? "ok  " : "FAIL", label);
  for (size_t i = 0; i < want.size(); ++i) std::printf(" %.3f/%.3f", counts[i] / static_cast<double>(n), want[i]);
  std::printf("\n");
  if (!ok) ++failures;
}

std::vector<double> softmax(const std::vector<float>& l, double t, size_t keep) {
  std::vector<double> p(l.size(), 0.0);
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += p[i] = std::exp(l[i] / t);
  for (auto& v : p) v /= total;
  return p;
}

}  // namespace

int main() {
  const std::vector<float> logits = {2.0f, 1.0f, 0.0f, -1.0f};  // sorted: index == rank
  aeb::SamplerOptions o;
  o.temperature = 1.0;
  expect_frequencies("t=1", o, logits, softmax(logits, 1.0, 4));
  o.temperature = 0.5;
  expect_frequencies("t=0.5", o, logits, softmax(logits, 0.5, 4));
  o.temperature = 1.0;
  o.top_k = 2;
  expect_frequencies("top_k=2", o, logits, softmax(logits, 1.0, 2));
  o.top_k = 0;
  o.top_p = 0.7;  // p = .644 .237 .087 .032: the nucleus reaching 0.7 is {0, 1}
  expect_frequencies("top_p=0.7", o, logits, softmax(logits, 1.0, 2));
  o.top_p = 0.5;
  expect_frequencies("top_p=0.5", o, logits, {1.0, 0.0, 0.0, 0.0});
  o.top_p = 0.95;  // cumulative .644 .881 .968 -> {0, 1, 2}
  expect_frequencies("top_p=0.95", o, logits, softmax(logits, 1.0, 3));
  // Reproducible for a seed.
  aeb::SamplerOptions s;
  s.temperature = 1.0;
  s.has_seed = true;
  s.seed = 7;
  aeb::Sampler a(s), b(s);
  for (int i = 0; i < 1000; ++i)
    if (a.sample(logits.data(), 4) != b.sample(logits.data(), 4)) {
      std::printf("FAIL seeded samplers diverged at %d\n", i);
      ++failures;
      break;
    }
  // Greedy: lowest index among equal maxima; invalid options rejected.
  const std::vector<float> tie = {0.0f, 3.0f, 3.0f};
  if (aeb::Sampler(aeb::SamplerOptions{}).sample(tie.data(), 3) != 1) ++failures, std::printf("FAIL greedy tie\n");
  for (auto bad : {aeb::SamplerOptions{-1.0, 0, 1.0, false, 0}, aeb::SamplerOptions{1.0, -1, 1.0, false, 0},
                   aeb::SamplerOptions{1.0, 0, 0.0, false, 0}, aeb::SamplerOptions{1.0, 0, 1.5, false, 0}}) {
    try {
      aeb::Sampler x(bad);
      ++failures;
      std::printf("FAIL accepted invalid options\n");
    } catch (const aeb::EngineError& e) {
      if (e.code() != "INVALID_ARGUMENT") ++failures;
    }
  }
  std::printf("%s\n", failures == 0 ? "sampler: all checks passed" : "sampler: FAILURES");
  return failures == 0 ? 0 : 1;
}
