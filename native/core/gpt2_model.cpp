#include "gpt2_model.h"
#include "cpu_threads.h"
#include "checkpoint_tensor.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/accumulate.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "checkpoint.h"
#include "generation_loop.h"
#include "json.h"
#include "model_config.h"
#include "step_model.h"

namespace aeb {

namespace {

struct Gpt2Config {
  int64_t vocab_size = 0, hidden = 0, layers = 0, heads = 0, head_dim = 0, inner = 0, positions = 0;
  double eps = 1e-5;
  bool gelu_tanh = true;
  bool tie = true;
  std::vector<int64_t> eos_ids;
};

json::Value parse_json_file(const std::string& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::JsonError& e) {
    throw EngineError("CONFIG_INVALID", path + ": " + e.what());
  }
}

bool names_gpt2(const json::Value& root) {
  if (const json::Value* archs = root.find("architectures"); archs != nullptr && archs->is_array())
    for (const auto& a : archs->items())
      if (a.is_string() && a.as_string() == "GPT2LMHeadModel") return true;
  const json::Value* type = root.find("model_type");
  return type != nullptr && type->is_string() && type->as_string() == "gpt2";
}

// eos_token_id: an int or a list of ints; false when absent or null.
bool read_token_ids(const json::Value& root, const std::string& file, std::vector<int64_t>& out) {
  const json::Value* v = root.find("eos_token_id");
  if (v == nullptr || v->is_null()) return false;
  const auto bad = [&]() { return EngineError("CONFIG_INVALID", file + ": \"eos_token_id\" must be a token id or a list of token ids"); };
  out.clear();
  if (v->is_integer() && v->as_int() >= 0) {
    out.push_back(v->as_int());
    return true;
  }
  if (!v->is_array()) throw bad();
  for (const auto& item : v->items()) {
    if (!item.is_integer() || item.as_int() < 0) throw bad();
    out.push_back(item.as_int());
  }
  return true;
}

Gpt2Config read_gpt2_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  if (!file_exists(path)) throw EngineError("FILE_NOT_FOUND", "no config.json in " + dir + " (expected a Hugging Face checkpoint directory)");
  const json::Value root = parse_json_file(path);
  if (!root.is_object()) throw EngineError("CONFIG_INVALID", path + ": expected a JSON object");
  const auto fail = [&](const std::string& key, const std::string& what) {
    return EngineError("CONFIG_INVALID", path + ": \"" + key + "\" " + what);
  };
  const auto get = [&](const std::string& key) -> const json::Value* {
    const json::Value* v = root.find(key);
    return (v == nullptr || v->is_null()) ? nullptr : v;
  };
  // The first present key of `keys` (HF aliases), as a positive integer.
  const auto positive = [&](std::initializer_list<const char*> keys, int64_t fallback) -> int64_t {
    for (const char* key : keys) {
      const json::Value* v = get(key);
      if (v == nullptr) continue;
      if (!v->is_integer() || v->as_int() <= 0) throw fail(key, "must be a positive integer");
      if (v->as_int() > (int64_t{1} << 31)) throw fail(key, "is implausibly large");
      return v->as_int();
    }
    if (fallback > 0) return fallback;
    throw fail(*keys.begin(), "is missing");
  };
  const auto boolean = [&](const char* key, bool fallback) {
    const json::Value* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_bool()) throw fail(key, "must be true or false");
    return v->as_bool();
  };

  Gpt2Config c;
  c.vocab_size = positive({"vocab_size"}, 0);
  c.hidden = positive({"n_embd", "hidden_size"}, 0);
  c.layers = positive({"n_layer", "num_hidden_layers"}, 0);
  if (c.layers > kMaxLayers) throw fail("n_layer", "is " + std::to_string(c.layers) + ", implausibly large (at most " + std::to_string(kMaxLayers) + ")");
  c.heads = positive({"n_head", "num_attention_heads"}, 0);
  c.positions = positive({"n_positions", "max_position_embeddings"}, 1024);
  c.inner = positive({"n_inner"}, 4 * c.hidden);
  if (c.hidden % c.heads != 0) throw fail("n_embd", "must be divisible by n_head");
  c.head_dim = c.hidden / c.heads;
  if (const json::Value* v = get("layer_norm_epsilon")) {
    if (!v->is_number() || !(v->as_double() > 0)) throw fail("layer_norm_epsilon", "must be a positive number");
    c.eps = v->as_double();
  }
  if (const json::Value* v = get("activation_function")) {
    if (!v->is_string()) throw fail("activation_function", "must be a string");
    const std::string& act = v->as_string();
    if (act == "gelu") {
      c.gelu_tanh = false;
    } else if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu_fast") {
      throw fail("activation_function", "is \"" + act + "\"; supported: gelu_new, gelu_pytorch_tanh, gelu_fast, gelu");
    }
  }
  if (!boolean("scale_attn_weights", true)) throw fail("scale_attn_weights", "false is not supported");
  if (boolean("scale_attn_by_inverse_layer_idx", false)) throw fail("scale_attn_by_inverse_layer_idx", "true is not supported");
  if (boolean("add_cross_attention", false)) throw fail("add_cross_attention", "true is not supported (decoder-only models only)");
  c.tie = boolean("tie_word_embeddings", true);

  if (!read_token_ids(root, path, c.eos_ids)) c.eos_ids.clear();
  const std::string gen_path = dir + "/generation_config.json";
  if (file_exists(gen_path)) {
    const json::Value gen = parse_json_file(gen_path);
    if (!gen.is_object()) throw EngineError("CONFIG_INVALID", gen_path + ": expected a JSON object");
    std::vector<int64_t> ids;
    if (read_token_ids(gen, gen_path, ids)) c.eos_ids = ids;
  }
  for (int64_t id : c.eos_ids)
    if (id >= c.vocab_size)
      throw EngineError("CONFIG_INVALID", path + ": eos token id " + std::to_string(id) + " is outside the vocabulary (" +
                                              std::to_string(c.vocab_size) + ")");
  return c;
}

// Tensor names without the optional "transformer." prefix.
std::vector<TensorSpec> gpt2_tensors(const Gpt2Config& c) {
  const int64_t E = c.hidden, I = c.inner;
  std::vector<TensorSpec> t;
  t.push_back({"wte.weight", {c.vocab_size, E}});
  t.push_back({"wpe.weight", {c.positions, E}});
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    t.push_back({p + "ln_1.weight", {E}});
    t.push_back({p + "ln_1.bias", {E}});
    t.push_back({p + "attn.c_attn.weight", {E, 3 * E}});  // Conv1D: (in, out)
    t.push_back({p + "attn.c_attn.bias", {3 * E}});
    t.push_back({p + "attn.c_proj.weight", {E, E}});
    t.push_back({p + "attn.c_proj.bias", {E}});
    t.push_back({p + "ln_2.weight", {E}});
    t.push_back({p + "ln_2.bias", {E}});
    t.push_back({p + "mlp.c_fc.weight", {E, I}});
    t.push_back({p + "mlp.c_fc.bias", {I}});
    t.push_back({p + "mlp.c_proj.weight", {I, E}});
    t.push_back({p + "mlp.c_proj.bias", {E}});
  }
  t.push_back({"ln_f.weight", {E}});
  t.push_back({"ln_f.bias", {E}});
  return t;
}

// Validated checkpoint tensor; `name` is the full name in the file.
const CheckpointTensor& checked(const Checkpoint& ckpt, const std::string& name, const std::vector<int64_t>& shape) {
  const CheckpointTensor* ct = ckpt.find(name);
  if (ct == nullptr) throw EngineError("TENSOR_MISSING", "checkpoint " + ckpt.dir() + " lacks tensor '" + name + "' required by GPT2LMHeadModel");
  if (ct->tensor->shape != shape)
    throw EngineError("TENSOR_SHAPE_MISMATCH", "tensor '" + name + "' in " + ct->file->path() + " has shape " +
                                                   shape_string(ct->tensor->shape) + ", config.json implies " + shape_string(shape));
  const StDtype d = ct->tensor->dtype;
  if (d != StDtype::F32 && d != StDtype::F16 && d != StDtype::BF16)
    throw EngineError("DTYPE_UNSUPPORTED", "tensor '" + name + "' in " + ct->file->path() + " has dtype " + st_dtype_name(d) +
                                               "; weights must be F32, F16 or BF16");
  return *ct;
}

// q: [1, H, T, D]; k, v: [1, H, S, D]. Causal only for T == S (prefill from position 0).
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
#else
  return std::get<0>(at::_scaled_dot_product_attention(q, k, v, {}, 0.0, false, causal));
#endif
}

struct Block {
  at::Tensor ln1_w, ln1_b, ln2_w, ln2_b;
  at::Tensor attn_w, attn_b, proj_w, proj_b, fc_w, fc_b, out_w, out_b;  // Linear layout [out, in]
};

class Gpt2Model final : public StepModel {
 public:
  Gpt2Model(Gpt2Config cfg, const Checkpoint& ckpt, const std::string& prefix, at::Device device, at::ScalarType dtype,
            int64_t max_seq_len, ModelInfo info)
      : cfg_(std::move(cfg)), device_(device), dtype_(dtype), max_seq_len_(max_seq_len), info_(std::move(info)) {
    c10::InferenceMode guard;
    const auto load = [&](const std::string& name) { return load_checkpoint_tensor(*ckpt.find(prefix + name), device_, dtype_); };
    const auto conv1d = [&](const std::string& name) { return load(name).t().contiguous(); };
    wte_ = load("wte.weight");
    wpe_ = load("wpe.weight");
    for (int64_t l = 0; l < cfg_.layers; ++l) {
      const std::string p = "h." + std::to_string(l) + ".";
      Block b;
      b.ln1_w = load(p + "ln_1.weight");
      b.ln1_b = load(p + "ln_1.bias");
      b.attn_w = conv1d(p + "attn.c_attn.weight");
      b.attn_b = load(p + "attn.c_attn.bias");
      b.proj_w = conv1d(p + "attn.c_proj.weight");
      b.proj_b = load(p + "attn.c_proj.bias");
      b.ln2_w = load(p + "ln_2.weight");
      b.ln2_b = load(p + "ln_2.bias");
      b.fc_w = conv1d(p + "mlp.c_fc.weight");
      b.fc_b = load(p + "mlp.c_fc.bias");
      b.out_w = conv1d(p + "mlp.c_proj.weight");
      b.out_b = load(p + "mlp.c_proj.bias");
      blocks_.push_back(std::move(b));
    }
    lnf_w_ = load("ln_f.weight");
    lnf_b_ = load("ln_f.bias");
    if (cfg_.tie) {
      lm_head_ = wte_;
    } else {
      // lm_head sits outside "transformer." in HF checkpoints.
      lm_head_ = load_checkpoint_tensor(*ckpt.find("lm_head.weight"), device_, dtype_);
    }
    const auto cache_opts = at::TensorOptions().device(device_).dtype(dtype_);
    k_cache_ = allocate_kv_cache({cfg_.layers, cfg_.heads, max_seq_len_, cfg_.head_dim}, cache_opts);
    v_cache_ = allocate_kv_cache({cfg_.layers, cfg_.heads, max_seq_len_, cfg_.head_dim}, cache_opts);
  }

  const ModelInfo& info() const override { return info_; }
  void reset() override { pos_ = 0; }

  at::Tensor prefill(const std::vector<int64_t>& ids) override {
    pos_ = 0;
    return step(at::tensor(ids, at::kLong).to(device_));
  }

  at::Tensor decode(int64_t id) override {
    return step(at::full({1}, id, at::TensorOptions().dtype(at::kLong).device(device_)));
  }

 private:
  // Runs ids at positions [pos_, pos_ + T), appends their K/V, returns the last logits [V].
  at::Tensor step(const at::Tensor& ids) {
    const int64_t T = ids.size(0), H = cfg_.heads, D = cfg_.head_dim, E = cfg_.hidden, pos0 = pos_, S = pos_ + T;
    if (S > max_seq_len_)
      throw EngineError("INVALID_ARGUMENT", "position " + std::to_string(S - 1) + " is past max_seq_len " + std::to_string(max_seq_len_));
    const std::vector<int64_t> norm_shape{E};
    at::Tensor x = wte_.index_select(0, ids) + wpe_.narrow(0, pos0, T);  // [T, E]
    for (int64_t l = 0; l < cfg_.layers; ++l) {
      if (T > 1) throw_if_cancelled();
      const Block& b = blocks_[static_cast<size_t>(l)];
      at::Tensor h = at::layer_norm(x, norm_shape, b.ln1_w, b.ln1_b, cfg_.eps);
      std::vector<at::Tensor> qkv = at::linear(h, b.attn_w, b.attn_b).split(E, -1);
      at::Tensor q = qkv[0].view({T, H, D}).transpose(0, 1);  // [H, T, D]
      at::Tensor kc = k_cache_[l];
      at::Tensor vc = v_cache_[l];
      kc.narrow(1, pos0, T).copy_(qkv[1].view({T, H, D}).transpose(0, 1));
      vc.narrow(1, pos0, T).copy_(qkv[2].view({T, H, D}).transpose(0, 1));
      at::Tensor o = attention(q.unsqueeze(0), kc.narrow(1, 0, S).unsqueeze(0), vc.narrow(1, 0, S).unsqueeze(0), T > 1);
      x = x + at::linear(o.squeeze(0).transpose(0, 1).reshape({T, E}), b.proj_w, b.proj_b);
      h = at::layer_norm(x, norm_shape, b.ln2_w, b.ln2_b, cfg_.eps);
      h = at::gelu(at::linear(h, b.fc_w, b.fc_b), cfg_.gelu_tanh ? "tanh" : "none");
      x = x + at::linear(h, b.out_w, b.out_b);
    }
    pos_ = S;
    at::Tensor last = at::layer_norm(x.narrow(0, T - 1, 1), norm_shape, lnf_w_, lnf_b_, cfg_.eps);
    return at::linear(last, lm_head_).view({cfg_.vocab_size});
  }

  Gpt2Config cfg_;
  at::Device device_;
  at::ScalarType dtype_;
  int64_t max_seq_len_;
  ModelInfo info_;
  at::Tensor wte_, wpe_, lnf_w_, lnf_b_, lm_head_;
  std::vector<Block> blocks_;
  at::Tensor k_cache_, v_cache_;  // [layers, heads, max_seq_len, head_dim]
  int64_t pos_ = 0;               // positions already in the cache
};

}  // namespace

bool is_gpt2_checkpoint(const std::string& dir) {
  try {
    const std::string path = dir + "/config.json";
    if (!file_exists(path)) return false;
    const json::Value root = json::parse(read_text_file(path));
    return root.is_object() && names_gpt2(root);
  } catch (const std::exception&) {
    return false;
  }
}

std::unique_ptr<Model> load_gpt2_model(const LoadOptions& options) {
  if (options.path.empty()) throw EngineError("INVALID_ARGUMENT", "load_model: path is empty");
  if (options.max_seq_len < 0) throw EngineError("INVALID_ARGUMENT", "max_seq_len must be >= 0");
  const int threads = resolve_threads(options.threads);
  try {
    // 1. Config and every tensor (presence, shape, dtype) before touching any data.
    Gpt2Config cfg = read_gpt2_config(options.path);
    Checkpoint ckpt(options.path);
    const std::string prefix = ckpt.find("transformer.wte.weight") != nullptr ? "transformer." : "";
    int64_t params = 0;
    for (const TensorSpec& spec : gpt2_tensors(cfg)) {
      checked(ckpt, prefix + spec.name, spec.shape);
      params += c10::multiply_integers(spec.shape);
    }
    if (!cfg.tie) {
      checked(ckpt, "lm_head.weight", {cfg.vocab_size, cfg.hidden});
      params += cfg.vocab_size * cfg.hidden;
    }

    // 2. Device, dtype, sizes.
    const at::Device device = resolve_device(options.device);
    const at::ScalarType dtype = resolve_dtype(options.dtype, device);
    const int64_t max_seq_len = options.max_seq_len == 0 ? cfg.positions : options.max_seq_len;
    if (max_seq_len > cfg.positions)
      throw EngineError("INVALID_ARGUMENT", "max_seq_len " + std::to_string(max_seq_len) + " exceeds the model's limit of " +
                                                std::to_string(cfg.positions) + " (n_positions)");

    ModelInfo info;
    info.architecture = "GPT2LMHeadModel";
    info.format = "safetensors";
    info.device = device.str();
    info.dtype = dtype_name(dtype);
    info.vocab_size = cfg.vocab_size;
    info.hidden_size = cfg.hidden;
    info.num_layers = cfg.layers;
    info.num_heads = cfg.heads;
    info.num_kv_heads = cfg.heads;
    info.head_dim = cfg.head_dim;
    info.max_seq_len = max_seq_len;
    info.num_parameters = params;
    // Per decode step: every weight once, but one row of wte and wpe (a tied head reads all of wte).
    const int64_t elt = dtype == at::kFloat ? 4 : 2;
    const int64_t tables = (cfg.vocab_size + cfg.positions) * cfg.hidden;
    info.weight_bytes = (params - tables + 2 * cfg.hidden + (cfg.tie ? cfg.vocab_size * cfg.hidden : 0)) * elt;
    info.eos_ids = cfg.eos_ids;
    info.threads = threads;

    // 3. Allocate and load.
    set_intraop_threads(threads);
    return std::make_unique<StepModelAdapter>(
        std::make_unique<Gpt2Model>(std::move(cfg), ckpt, prefix, device, dtype, max_seq_len, std::move(info)));
  } catch (const c10::Error& e) {
    throw EngineError("TORCH_ERROR", "load_model " + options.path + ": " + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw EngineError("OUT_OF_MEMORY", "load_model " + options.path + ": out of memory");
  }
}

}  // namespace aeb
