// load_model(): validation, weight loading, and the decoder-only transformer (Llama family)
// with a preallocated KV cache. Prefill and GPU decode run on libtorch; CPU single-token decode
// runs on the hand-written kernels of cpu_decode.h (no per-op dispatch, weights streamed once).

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <cstdlib>
#include <cstring>

#include "allocator_tuning.h"
#include "checkpoint.h"
#include "checkpoint_tensor.h"
#include "cpu_decode.h"
#include "cpu_threads.h"
#include "engine.h"
#include "generation_loop.h"
#include "gpt2_model.h"
#include "model_config.h"
#include "torchscript_model.h"

namespace aeb {

namespace {

constexpr int64_t kDefaultMaxSeqLen = 4096;

// A CPU prefill below this many multiply-adds per layer (tokens x layer weights) runs on one
// thread: splitting such small matmuls across OpenBLAS's and OpenMP's pools costs more than it
// saves (default model, 90 tokens = 7e7: 20 ms on 1 thread, 50-200 ms on 2). The 134M
// synthetic model's 90-token prefill (6e8) gains from 2.
constexpr int64_t kParallelPrefillMacsPerLayer = int64_t{1} << 27;

// q/k/v and gate/up are stored concatenated along the output rows (one matmul each in
// libtorch); wq, wk, wv, w_gate, w_up are row-range views into them (contiguous).
struct LayerWeights {
  at::Tensor in_norm, post_norm, q_norm, k_norm;
  at::Tensor wqkv, bqkv, w_gate_up, b_gate_up;
  at::Tensor wq, wk, wv, wo, bq, bk, bv, bo;
  at::Tensor w_gate, w_up, w_down, b_gate, b_up, b_down;
};

// Concatenates parts along dim 0 (undefined when the first is undefined) and frees the parts.
at::Tensor concat_rows(std::map<std::string, at::Tensor>& w, const std::vector<std::string>& names) {
  if (w.find(names[0]) == w.end()) return at::Tensor();
  std::vector<at::Tensor> parts;
  for (const auto& n : names) parts.push_back(w.at(n));
  at::Tensor out = at::cat(parts, 0).contiguous();
  for (const auto& n : names) w.erase(n);
  return out;
}

// HF LlamaRMSNorm: normalise in f32, scale by the weight in the input dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return weight * normed.to(x.scalar_type());
}

// HF rotate-half RoPE as x * cos + swap_halves(x) * sin_signed, where sin_signed = [-sin, sin]
// folds rotate_half's negation into the table (three kernels: mul, cat, addcmul).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin_signed) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor swapped = at::cat({x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return at::addcmul(x * cos, swapped, sin_signed);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

// Prefill (T == S, positions from 0) under a sliding window: query i sees keys j with
// i - window < j <= i. Plain math with an explicit band mask (softmax in f32), the same on
// every torch version; only prompts longer than the window take this path. Queries go in
// blocks of kBandRows against just the keys their band reaches, so memory stays
// heads x kBandRows x (kBandRows + window) scores instead of heads x T x T.
at::Tensor banded_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t window) {
  constexpr int64_t kBandRows = 256;
  const int64_t T = q.size(-2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  std::vector<at::Tensor> blocks;
  for (int64_t r0 = 0; r0 < T; r0 += kBandRows) {
    const int64_t rows = std::min(kBandRows, T - r0);
    const int64_t k0 = std::max<int64_t>(0, r0 - window + 1);
    const int64_t keys = r0 + rows - k0;
    at::Tensor kb = k.narrow(-2, k0, keys);
    at::Tensor scores = at::matmul(q.narrow(-2, r0, rows), kb.transpose(-2, -1)).to(at::kFloat).mul_(scale);
    at::Tensor i = at::arange(r0, r0 + rows, scores.options().dtype(at::kLong)).unsqueeze(1);
    at::Tensor j = at::arange(k0, k0 + keys, scores.options().dtype(at::kLong)).unsqueeze(0);
    scores.masked_fill_(j.gt(i).logical_or(j.le(i - window)), -std::numeric_limits<double>::infinity());
    blocks.push_back(at::matmul(at::softmax(scores, -1).to(q.scalar_type()), v.narrow(-2, k0, keys)));
  }
  return at::cat(blocks, -2);
}

// q: [1, heads, T, D]; k, v: [1, heads, S, D]. Causal only for T == S (prefill from 0).
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
#elif TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR >= 13
  return std::get<0>(at::_scaled_dot_product_attention(q, k, v, {}, 0.0, false, causal));
#else
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
  if (causal) {
    at::Tensor mask = at::ones({q.size(-2), k.size(-2)}, q.options().dtype(at::kBool)).triu(1);
    scores = scores.masked_fill(mask, -std::numeric_limits<double>::infinity());
  }
  return at::matmul(at::softmax(scores.to(at::kFloat), -1).to(q.scalar_type()), v);
#endif
}

class TransformerModel final : public StepModel {
 public:
  TransformerModel(ModelConfig cfg, const Checkpoint& ckpt, const std::vector<TensorSpec>& specs, at::Device device,
                   at::ScalarType dtype, int threads, int64_t max_seq_len, ModelInfo info)
      : cfg_(std::move(cfg)), device_(device), dtype_(dtype), threads_(threads), max_seq_len_(max_seq_len),
        info_(std::move(info)) {
    set_cpu_threads(threads_);
    c10::InferenceMode guard;
    std::map<std::string, at::Tensor> w;
    for (const auto& spec : specs) w[spec.name] = load_tensor(*ckpt.find(spec.name));
    embed_ = w.at("model.embed_tokens.weight");
    final_norm_ = w.at("model.norm.weight");
    lm_head_ = cfg_.tie_word_embeddings ? embed_ : w.at("lm_head.weight");
    auto opt = [&](const std::string& name) { auto it = w.find(name); return it == w.end() ? at::Tensor() : it->second; };
    for (int64_t l = 0; l < cfg_.num_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      LayerWeights L;
      L.in_norm = w.at(p + "input_layernorm.weight");
      L.post_norm = w.at(p + "post_attention_layernorm.weight");
      L.q_norm = opt(p + "self_attn.q_norm.weight");
      L.k_norm = opt(p + "self_attn.k_norm.weight");
      const int64_t q_out = cfg_.num_heads * cfg_.head_dim, kv_out = cfg_.num_kv_heads * cfg_.head_dim;
      const int64_t inter = cfg_.intermediate_size;
      const std::string a = p + "self_attn.", m = p + "mlp.";
      L.wqkv = concat_rows(w, {a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"});
      L.bqkv = concat_rows(w, {a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"});
      L.wq = L.wqkv.narrow(0, 0, q_out);
      L.wk = L.wqkv.narrow(0, q_out, kv_out);
      L.wv = L.wqkv.narrow(0, q_out + kv_out, kv_out);
      if (L.bqkv.defined()) {
        L.bq = L.bqkv.narrow(0, 0, q_out);
        L.bk = L.bqkv.narrow(0, q_out, kv_out);
        L.bv = L.bqkv.narrow(0, q_out + kv_out, kv_out);
      }
      L.wo = w.at(a + "o_proj.weight");
      L.bo = opt(a + "o_proj.bias");
      L.w_gate_up = concat_rows(w, {m + "gate_proj.weight", m + "up_proj.weight"});
      L.b_gate_up = concat_rows(w, {m + "gate_proj.bias", m + "up_proj.bias"});
      L.w_gate = L.w_gate_up.narrow(0, 0, inter);
      L.w_up = L.w_gate_up.narrow(0, inter, inter);
      if (L.b_gate_up.defined()) {
        L.b_gate = L.b_gate_up.narrow(0, 0, inter);
        L.b_up = L.b_gate_up.narrow(0, inter, inter);
      }
      L.w_down = w.at(m + "down_proj.weight");
      L.b_down = opt(m + "down_proj.bias");
      layers_.push_back(std::move(L));
    }

    // KV cache [layers, kv_heads, max_seq_len, head_dim]. On CPU it is f32 whatever the
    // compute dtype: the CPU decode kernels accumulate in f32 and read it directly.
    cache_dtype_ = device_.is_cpu() ? at::kFloat : dtype_;
    auto cache_opts = at::TensorOptions().device(device_).dtype(cache_dtype_);
    k_cache_ = allocate_kv_cache({cfg_.num_layers, cfg_.num_kv_heads, max_seq_len_, cfg_.head_dim}, cache_opts);
    v_cache_ = allocate_kv_cache({cfg_.num_layers, cfg_.num_kv_heads, max_seq_len_, cfg_.head_dim}, cache_opts);

    // RoPE tables from double-precision angles: cos/sin [max_seq_len, head_dim/2].
    const std::vector<double> inv_freq = rope_inv_freq(cfg_);
    const int64_t half = cfg_.head_dim / 2;
    at::Tensor cos_half = at::empty({max_seq_len_, half}, at::kFloat);
    at::Tensor sin_half = at::empty({max_seq_len_, half}, at::kFloat);
    float* cp = cos_half.data_ptr<float>();
    float* sp = sin_half.data_ptr<float>();
    for (int64_t pos = 0; pos < max_seq_len_; ++pos)
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(pos) * inv_freq[static_cast<size_t>(i)];
        cp[pos * half + i] = static_cast<float>(std::cos(angle));
        sp[pos * half + i] = static_cast<float>(std::sin(angle));
      }
    rope_cos_half_ = cos_half;
    rope_sin_half_ = sin_half;
    rope_cos_ = at::cat({cos_half, cos_half}, -1).to(device_, dtype_);
    rope_sin_signed_ = at::cat({-sin_half, sin_half}, -1).to(device_, dtype_);

    // AEB_CPU_DECODE=torch keeps CPU decode on libtorch (the GPU code path), for comparisons.
    const char* decode_env = std::getenv("AEB_CPU_DECODE");
    if (device_.is_cpu() && !(decode_env != nullptr && std::string(decode_env) == "torch")) build_cpu_decoder();
    info_.device = device_.str();
    info_.dtype = dtype_name(dtype_);
    info_.threads = threads_;
    logits_ = at::empty({cfg_.vocab_size}, at::kFloat);
  }

  const ModelInfo& info() const override { return info_; }

  void reset() override { pos_ = 0; }

  // Logits land in a host f32 buffer: the CPU kernels write it directly; the libtorch path
  // copies into it (the device → host copy synchronises, so the step's work is finished).
  at::Tensor prefill(const std::vector<int64_t>& ids) override {
    if (ids.size() == 1 && cpu_decoder_) {
      cpu_decoder_->step(ids[0], 0, logits_.data_ptr<float>());
    } else if (device_.is_cpu()) {
      const int64_t macs = static_cast<int64_t>(ids.size()) * layer_weight_elements();
      set_cpu_threads(macs >= kParallelPrefillMacsPerLayer ? threads_ : 1);
      logits_.copy_(forward(at::tensor(ids, at::kLong), 0));
      if (!cpu_decoder_) set_cpu_threads(threads_);  // libtorch decodes too
    } else {
      logits_.copy_(forward(at::tensor(ids, at::kLong).to(device_), 0));
    }
    pos_ = static_cast<int64_t>(ids.size());
    return logits_;
  }

  at::Tensor decode(int64_t id) override {
    if (cpu_decoder_) {
      cpu_decoder_->step(id, pos_, logits_.data_ptr<float>());
    } else {
      logits_.copy_(forward(at::full({1}, id, at::TensorOptions().dtype(at::kLong).device(device_)), pos_));
    }
    ++pos_;
    return logits_;
  }

 private:
  int64_t layer_weight_elements() const {
    const int64_t H = cfg_.hidden_size, D = cfg_.head_dim;
    return H * (cfg_.num_heads + 2 * cfg_.num_kv_heads) * D + cfg_.num_heads * D * H + 3 * H * cfg_.intermediate_size;
  }

  at::Tensor load_tensor(const CheckpointTensor& ct) const { return load_checkpoint_tensor(ct, device_, dtype_); }

  // Runs tokens at positions [pos0, pos0 + T) and returns the last position's logits [vocab].
  // T > 1 only from position 0 (prefill), so causal masking is the plain lower triangle.
  at::Tensor forward(const at::Tensor& ids, int64_t pos0) {
    const int64_t T = ids.size(0);
    if (T > 1 && pos0 != 0) throw EngineError("INVALID_ARGUMENT", "internal: multi-token forward must start at position 0");
    const int64_t nh = cfg_.num_heads, nkv = cfg_.num_kv_heads, D = cfg_.head_dim, S = pos0 + T;
    const double eps = cfg_.rms_norm_eps;
    at::Tensor x = embed_.index_select(0, ids);  // [T, H]
    at::Tensor cos = rope_cos_.narrow(0, pos0, T).unsqueeze(1);  // [T, 1, D]
    at::Tensor sin = rope_sin_signed_.narrow(0, pos0, T).unsqueeze(1);
    for (int64_t l = 0; l < cfg_.num_layers; ++l) {
      if (T > 1) throw_if_cancelled();
      const LayerWeights& L = layers_[static_cast<size_t>(l)];
      at::Tensor h = rms_norm(x, L.in_norm, eps);
      at::Tensor qkv = linear(h, L.wqkv, L.bqkv);  // [T, (nh + 2 nkv) D]
      at::Tensor v = qkv.narrow(1, (nh + nkv) * D, nkv * D).view({T, nkv, D});
      // q and k heads side by side [T, nh + nkv, D], rotated together.
      at::Tensor qk = qkv.narrow(1, 0, (nh + nkv) * D).view({T, nh + nkv, D});
      if (cfg_.qk_norm)
        qk = at::cat({rms_norm(qk.narrow(1, 0, nh), L.q_norm, eps), rms_norm(qk.narrow(1, nh, nkv), L.k_norm, eps)}, 1);
      qk = apply_rope(qk, cos, sin);
      at::Tensor q = qk.narrow(1, 0, nh);
      at::Tensor k = qk.narrow(1, nh, nkv);
      at::Tensor kc = k_cache_[l];
      at::Tensor vc = v_cache_[l];
      kc.narrow(1, pos0, T).copy_(k.transpose(0, 1));
      vc.narrow(1, pos0, T).copy_(v.transpose(0, 1));
      // Decode under a sliding window reads only the last `window` positions of the cache.
      const int64_t window = cfg_.window_of(l);
      const int64_t first = T == 1 && window > 0 ? std::max<int64_t>(0, S - window) : 0;
      const int64_t span = S - first;
      at::Tensor keys = kc.narrow(1, first, span).to(dtype_);  // [nkv, span, D]
      at::Tensor values = vc.narrow(1, first, span).to(dtype_);
      const int64_t group = nh / nkv;
      at::Tensor o;
      if (T == 1 && group > 1) {
        // GQA decode: two batched matmuls over the cache views instead of copying K/V once
        // per query head (O(context) traffic); softmax in f32 like HF's eager attention.
        at::Tensor qg = q.reshape({nkv, group, D});
        at::Tensor scores = at::matmul(qg, keys.transpose(1, 2)).mul_(1.0 / std::sqrt(static_cast<double>(D)));
        at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(dtype_);
        o = at::matmul(probs, values).reshape({1, nh * D});
      } else {
        if (group != 1) {
          keys = keys.unsqueeze(1).expand({nkv, group, span, D}).reshape({nh, span, D});
          values = values.unsqueeze(1).expand({nkv, group, span, D}).reshape({nh, span, D});
        }
        at::Tensor qh = q.transpose(0, 1).unsqueeze(0);
        at::Tensor attn = T > 1 && window > 0 && S > window
                              ? banded_attention(qh, keys.unsqueeze(0), values.unsqueeze(0), window)
                              : attention(qh, keys.unsqueeze(0), values.unsqueeze(0), T > 1);
        o = attn.squeeze(0).transpose(0, 1).reshape({T, nh * D});
      }
      x = x + linear(o, L.wo, L.bo);
      h = rms_norm(x, L.post_norm, eps);
      at::Tensor gate_up = linear(h, L.w_gate_up, L.b_gate_up);  // [T, 2 I]
      const int64_t inter = cfg_.intermediate_size;
      at::Tensor gated = at::silu(gate_up.narrow(1, 0, inter)) * gate_up.narrow(1, inter, inter);
      x = x + linear(gated, L.w_down, L.b_down);
    }
    at::Tensor last = rms_norm(x.narrow(0, T - 1, 1), final_norm_, eps);
    return at::linear(last, lm_head_).view({cfg_.vocab_size});
  }

  void build_cpu_decoder() {
    // Small vectors (norm weights, biases) in f32 for the kernels; big matrices as stored.
    auto f32 = [&](const at::Tensor& t) -> const float* {
      if (!t.defined()) return nullptr;
      f32_copies_.push_back(t.to(at::kFloat).contiguous());
      return f32_copies_.back().data_ptr<float>();
    };
    CpuDecoderSpec s;
    s.weight_type = dtype_ == at::kBFloat16 ? CpuWeightType::BF16 : CpuWeightType::F32;
    s.vocab_size = cfg_.vocab_size;
    s.hidden_size = cfg_.hidden_size;
    s.intermediate_size = cfg_.intermediate_size;
    s.num_heads = cfg_.num_heads;
    s.num_kv_heads = cfg_.num_kv_heads;
    s.head_dim = cfg_.head_dim;
    s.max_seq_len = max_seq_len_;
    s.rms_norm_eps = static_cast<float>(cfg_.rms_norm_eps);
    s.threads = threads_;
    s.embed = embed_.data_ptr();
    s.lm_head = lm_head_.data_ptr();
    s.final_norm = f32(final_norm_);
    s.rope_cos = rope_cos_half_.data_ptr<float>();
    s.rope_sin = rope_sin_half_.data_ptr<float>();
    for (int64_t l = 0; l < cfg_.num_layers; ++l) {
      const LayerWeights& L = layers_[static_cast<size_t>(l)];
      CpuLayerSpec c;
      c.wq = L.wq.data_ptr();
      c.wk = L.wk.data_ptr();
      c.wv = L.wv.data_ptr();
      c.wo = L.wo.data_ptr();
      c.w_gate = L.w_gate.data_ptr();
      c.w_up = L.w_up.data_ptr();
      c.w_down = L.w_down.data_ptr();
      c.bq = f32(L.bq);
      c.bk = f32(L.bk);
      c.bv = f32(L.bv);
      c.bo = f32(L.bo);
      c.b_gate = f32(L.b_gate);
      c.b_up = f32(L.b_up);
      c.b_down = f32(L.b_down);
      c.in_norm = f32(L.in_norm);
      c.post_norm = f32(L.post_norm);
      c.q_norm = f32(L.q_norm);
      c.k_norm = f32(L.k_norm);
      c.k_cache = k_cache_[l].data_ptr<float>();
      c.v_cache = v_cache_[l].data_ptr<float>();
      c.sliding_window = cfg_.window_of(l);
      s.layers.push_back(c);
    }
    cpu_decoder_ = std::make_unique<CpuDecoder>(s);
  }

  ModelConfig cfg_;
  at::Device device_;
  at::ScalarType dtype_;
  at::ScalarType cache_dtype_ = at::kFloat;
  int threads_;
  int64_t max_seq_len_;
  ModelInfo info_;
  at::Tensor embed_, final_norm_, lm_head_;
  std::vector<LayerWeights> layers_;
  at::Tensor k_cache_, v_cache_;
  at::Tensor rope_cos_, rope_sin_signed_;     // [S, D] in the compute dtype, on the device
  at::Tensor rope_cos_half_, rope_sin_half_;  // [S, D/2] f32 on the host
  std::vector<at::Tensor> f32_copies_;
  std::unique_ptr<CpuDecoder> cpu_decoder_;
  at::Tensor logits_;  // [vocab] f32 on the host, reused every step
  int64_t pos_ = 0;    // next position to feed
};

}  // namespace

std::unique_ptr<Model> load_model(const LoadOptions& options) {
  if (options.path.empty()) throw EngineError("INVALID_ARGUMENT", "load_model: path is empty");
  tune_allocator_for_inference();
  if (options.threads < 0) throw EngineError("INVALID_ARGUMENT", "threads must be >= 0");
  if (options.max_seq_len < 0) throw EngineError("INVALID_ARGUMENT", "max_seq_len must be >= 0");
  // Formats other than the Llama-family safetensors directory have their own loaders.
  if (is_torchscript_path(options.path)) return load_torchscript_model(options);
  if (is_gpt2_checkpoint(options.path)) return load_gpt2_model(options);
  try {
    // 1. Files, headers and config, before touching any tensor data.
    ModelConfig cfg = read_model_config(options.path);
    Checkpoint ckpt(options.path);

    // 2. Every tensor the architecture needs: present, right shape, a floating dtype.
    const std::vector<TensorSpec> specs = required_tensors(cfg);
    ModelInfo info;
    info.architecture = cfg.architecture;
    info.format = "safetensors";
    for (const auto& spec : specs) {
      const CheckpointTensor* ct = ckpt.find(spec.name);
      if (ct == nullptr)
        throw EngineError("TENSOR_MISSING", "checkpoint " + options.path + " lacks tensor '" + spec.name + "' required by " + cfg.architecture);
      if (ct->tensor->shape != spec.shape)
        throw EngineError("TENSOR_SHAPE_MISMATCH", "tensor '" + spec.name + "' in " + ct->file->path() + " has shape " +
                                                       shape_string(ct->tensor->shape) + ", config.json implies " + shape_string(spec.shape));
      const StDtype d = ct->tensor->dtype;
      if (d != StDtype::F32 && d != StDtype::F16 && d != StDtype::BF16)
        throw EngineError("DTYPE_UNSUPPORTED", "tensor '" + spec.name + "' in " + ct->file->path() + " has dtype " +
                                                   st_dtype_name(d) + "; weights must be F32, F16 or BF16");
    }

    // 3. Device, dtype, sizes.
    const at::Device device = resolve_device(options.device);
    const at::ScalarType dtype = resolve_dtype(options.dtype, device);
    const int64_t limit = cfg.max_position_embeddings;
    int64_t max_seq_len = options.max_seq_len == 0 ? std::min(limit, kDefaultMaxSeqLen) : options.max_seq_len;
    if (max_seq_len > limit)
      throw EngineError("INVALID_ARGUMENT", "max_seq_len " + std::to_string(max_seq_len) + " exceeds the model's limit of " +
                                                std::to_string(limit) + " (max_position_embeddings)");
    const int threads = resolve_threads(options.threads);

    const int64_t elt = dtype == at::kFloat ? 4 : 2;
    int64_t params = 0;
    for (const auto& spec : specs) {
      int64_t n = 1;
      for (auto s : spec.shape) n *= s;
      params += n;
    }
    const int64_t embed_elems = cfg.vocab_size * cfg.hidden_size;
    info.num_parameters = params;
    // Per decode step: every weight once, but only one embedding row (the tied head reads all).
    info.weight_bytes = (params - embed_elems + cfg.hidden_size + (cfg.tie_word_embeddings ? embed_elems : 0)) * elt;
    info.vocab_size = cfg.vocab_size;
    info.hidden_size = cfg.hidden_size;
    info.num_layers = cfg.num_layers;
    info.num_heads = cfg.num_heads;
    info.num_kv_heads = cfg.num_kv_heads;
    info.head_dim = cfg.head_dim;
    info.max_seq_len = max_seq_len;
    info.eos_ids = cfg.eos_ids;

    // 4. Allocate and load.
    return std::make_unique<StepModelAdapter>(
        std::make_unique<TransformerModel>(std::move(cfg), ckpt, specs, device, dtype, threads, max_seq_len, std::move(info)));
  } catch (const EngineError&) {
    throw;
  } catch (const c10::Error& e) {
    throw EngineError("TORCH_ERROR", "load_model " + options.path + ": " + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw EngineError("OUT_OF_MEMORY", "load_model " + options.path + ": out of memory");
  } catch (const std::exception& e) {
    throw EngineError("INTERNAL_ERROR", "load_model " + options.path + ": " + e.what());
  }
}

}  // namespace aeb
