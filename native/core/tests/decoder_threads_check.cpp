// CpuDecoder on 2 and 3 threads against 1 thread: every output row and attention head is
// computed by exactly one thread with the same kernel, so the logits must be bit-identical.
// Shapes are large enough that the worker pool splits regions; several steps back-to-back
// and a pause (workers parked and asleep) exercise its wake-up and chunk-claiming paths.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "cpu_decode.h"

namespace {

constexpr int64_t kVocab = 1000, kHidden = 512, kInter = 1536, kHeads = 8, kKvHeads = 4, kHeadDim = 64, kSeq = 48;
constexpr int kLayers = 2;

struct Weights {
  std::vector<std::vector<float>> mats;  // owned storage for every tensor
  const float* add(size_t n, std::mt19937& rng, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    mats.emplace_back(n);
    for (auto& v : mats.back()) v = u(rng);
    return mats.back().data();
  }
};

std::vector<float> run(int threads, const aeb::CpuDecoderSpec& base) {
  aeb::CpuDecoderSpec s = base;
  s.threads = threads;
  std::vector<std::vector<float>> caches;
  for (auto& L : s.layers) {
    caches.emplace_back(static_cast<size_t>(kKvHeads * kSeq * kHeadDim), 0.0f);
    L.k_cache = caches.back().data();
    caches.emplace_back(static_cast<size_t>(kKvHeads * kSeq * kHeadDim), 0.0f);
    L.v_cache = caches.back().data();
  }
  aeb::CpuDecoder dec(s);
  std::vector<float> all, logits(static_cast<size_t>(kVocab));
  for (int64_t pos = 0; pos < kSeq; ++pos) {
    if (pos == kSeq / 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    dec.step((pos * 37 + 5) % kVocab, pos, logits.data());
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

}  // namespace

int main() {
  std::mt19937 rng(11);
  Weights w;
  aeb::CpuDecoderSpec s;
  s.weight_type = aeb::CpuWeightType::F32;
  s.vocab_size = kVocab; s.hidden_size = kHidden; s.intermediate_size = kInter;
  s.num_heads = kHeads; s.num_kv_heads = kKvHeads; s.head_dim = kHeadDim; s.max_seq_len = kSeq;
  s.rms_norm_eps = 1e-5f;
  const float a = 0.05f;
  s.embed = w.add(static_cast<size_t>(kVocab * kHidden), rng, -1, 1);
  s.lm_head = w.add(static_cast<size_t>(kVocab * kHidden), rng, -a, a);
  s.final_norm = w.add(static_cast<size_t>(kHidden), rng, 0.5f, 1.5f);
  std::vector<float> cosv(static_cast<size_t>(kSeq * kHeadDim / 2)), sinv(cosv.size());
  for (int64_t p = 0; p < kSeq; ++p)
    for (int64_t i = 0; i < kHeadDim / 2; ++i) {
      const double ang = p / std::pow(10000.0, 2.0 * i / kHeadDim);
      cosv[static_cast<size_t>(p * kHeadDim / 2 + i)] = static_cast<float>(std::cos(ang));
      sinv[static_cast<size_t>(p * kHeadDim / 2 + i)] = static_cast<float>(std::sin(ang));
    }
  s.rope_cos = cosv.data();
  s.rope_sin = sinv.data();
  const size_t q = static_cast<size_t>(kHeads * kHeadDim), kv = static_cast<size_t>(kKvHeads * kHeadDim);
  const auto H = static_cast<size_t>(kHidden), I = static_cast<size_t>(kInter);
  for (int l = 0; l < kLayers; ++l) {
    aeb::CpuLayerSpec L;
    L.wq = w.add(q * H, rng, -a, a); L.wk = w.add(kv * H, rng, -a, a); L.wv = w.add(kv * H, rng, -a, a);
    L.wo = w.add(H * q, rng, -a, a);
    L.w_gate = w.add(I * H, rng, -a, a); L.w_up = w.add(I * H, rng, -a, a); L.w_down = w.add(H * I, rng, -a, a);
    L.in_norm = w.add(H, rng, 0.5f, 1.5f); L.post_norm = w.add(H, rng, 0.5f, 1.5f);
    s.layers.push_back(L);
  }
  const std::vector<float> one = run(1, s);
  int failures = 0;
  for (int threads : {2, 3}) {
    const std::vector<float> got = run(threads, s);
    size_t diff = 0;
    for (size_t i = 0; i < one.size(); ++i) diff += std::memcmp(&one[i], &got[i], sizeof(float)) != 0;
    std::printf("threads=%d: %zu of %zu logits differ from 1 thread\n", threads, diff, one.size());
    failures += diff != 0;
  }
  return failures == 0 ? 0 : 1;
}
