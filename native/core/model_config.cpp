#include "model_config.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine.h"
#include "json.h"

namespace aeb {

namespace {

constexpr double kPi = 3.14159265358979323846;

struct ConfigReader {
  const json::Value& root;
  std::string file;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw EngineError("CONFIG_INVALID", file + ": \"" + key + "\" " + what);
  }
  const json::Value* get(const std::string& key) const {
    const json::Value* v = root.find(key);
    return (v == nullptr || v->is_null()) ? nullptr : v;
  }
  int64_t positive_int(const std::string& key) const {
    const json::Value* v = get(key);
    if (v == nullptr) fail(key, "is missing");
    if (!v->is_integer() || v->as_int() <= 0) fail(key, "must be a positive integer");
    if (v->as_int() > (int64_t{1} << 31)) fail(key, "is implausibly large");
    return v->as_int();
  }
  int64_t positive_int_or(const std::string& key, int64_t fallback) const {
    return get(key) == nullptr ? fallback : positive_int(key);
  }
  double positive_number_or(const std::string& key, double fallback) const {
    const json::Value* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_number() || !(v->as_double() > 0)) fail(key, "must be a positive number");
    return v->as_double();
  }
  bool bool_or(const std::string& key, bool fallback) const {
    const json::Value* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_bool()) fail(key, "must be true or false");
    return v->as_bool();
  }
  std::string string_or(const std::string& key, const std::string& fallback) const {
    const json::Value* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_string()) fail(key, "must be a string");
    return v->as_string();
  }
  // eos_token_id: an int or a list of ints; returns false when absent.
  bool token_ids(const std::string& key, std::vector<int64_t>& out) const {
    const json::Value* v = get(key);
    if (v == nullptr) return false;
    out.clear();
    if (v->is_integer() && v->as_int() >= 0) {
      out.push_back(v->as_int());
      return true;
    }
    if (!v->is_array()) fail(key, "must be a token id or a list of token ids");
    for (const auto& item : v->items()) {
      if (!item.is_integer() || item.as_int() < 0) fail(key, "must be a token id or a list of token ids");
      out.push_back(item.as_int());
    }
    return true;
  }
};

// Per-layer sliding windows, as transformers derives them (see ModelConfig::layer_windows).
// Mistral: sliding_window (null = none) on every layer. Qwen2/Qwen3: only with
// use_sliding_window; then the layers `layer_types` names "sliding_attention", else those
// >= max_window_layers (sliding_window and max_window_layers default to 4096 and 28, as in
// transformers' configs). `layer_types` is checked whenever present, as transformers does.
std::vector<int64_t> layer_windows(const ConfigReader& r, const ModelConfig& c) {
  const size_t n = static_cast<size_t>(c.num_layers);
  if (c.architecture == "MistralForCausalLM") {
    if (r.get("sliding_window") == nullptr) return {};
    return std::vector<int64_t>(n, r.positive_int("sliding_window"));
  }
  if (c.architecture != "Qwen2ForCausalLM" && c.architecture != "Qwen3ForCausalLM") return {};
  std::vector<bool> sliding(n, false);
  const json::Value* types = r.get("layer_types");
  if (types != nullptr) {
    if (!types->is_array() || types->items().size() != n)
      r.fail("layer_types", "must be a list with one entry per layer (" + std::to_string(n) + ")");
    for (size_t l = 0; l < n; ++l) {
      const json::Value& t = types->items()[l];
      const std::string kind = t.is_string() ? t.as_string() : "";
      if (kind != "full_attention" && kind != "sliding_attention")
        r.fail("layer_types", "entry " + std::to_string(l) + " must be \"full_attention\" or \"sliding_attention\"");
      sliding[l] = kind == "sliding_attention";
    }
  }
  if (!r.bool_or("use_sliding_window", false)) return {};
  // An absent sliding_window is transformers' default (4096); an explicit null means none.
  if (r.root.find("sliding_window") != nullptr && r.get("sliding_window") == nullptr) return {};
  const int64_t window = r.positive_int_or("sliding_window", 4096);
  if (types == nullptr) {
    int64_t first = 28;
    if (const json::Value* m = r.get("max_window_layers")) {
      if (!m->is_integer() || m->as_int() < 0) r.fail("max_window_layers", "must be a non-negative integer");
      first = m->as_int();
    }
    for (size_t l = 0; l < n; ++l) sliding[l] = static_cast<int64_t>(l) >= first;
  }
  std::vector<int64_t> windows(n, 0);
  for (size_t l = 0; l < n; ++l) windows[l] = sliding[l] ? window : 0;
  return windows;
}

json::Value parse_json_file(const std::string& path) {
  std::string text = read_text_file(path);
  try {
    return json::parse(text);
  } catch (const json::JsonError& e) {
    throw EngineError("CONFIG_INVALID", path + ": " + e.what());
  }
}

std::string architecture_from_model_type(const std::string& model_type) {
  if (model_type == "llama") return "LlamaForCausalLM";
  if (model_type == "mistral") return "MistralForCausalLM";
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  if (model_type == "qwen3") return "Qwen3ForCausalLM";
  return model_type.empty() ? std::string("(none)") : "model_type " + model_type;
}

std::string supported_list() {
  std::string s;
  for (const auto& a : supported_architectures()) s += (s.empty() ? "" : ", ") + a;
  return s;
}

}  // namespace

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    throw EngineError(err == ENOENT || err == 0 ? "FILE_NOT_FOUND" : "FILE_UNREADABLE",
                      "cannot open " + path + ": " + std::strerror(err == 0 ? ENOENT : err));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> kSupported = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM",
                                                      "Qwen3ForCausalLM"};
  return kSupported;
}

ModelConfig read_model_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  if (!file_exists(path)) throw EngineError("FILE_NOT_FOUND", "no config.json in " + dir + " (expected a Hugging Face checkpoint directory)");
  json::Value root = parse_json_file(path);
  if (!root.is_object()) throw EngineError("CONFIG_INVALID", path + ": expected a JSON object");
  ConfigReader r{root, path};

  ModelConfig c;
  const json::Value* archs = r.get("architectures");
  if (archs != nullptr) {
    if (!archs->is_array() || archs->items().empty() || !archs->items()[0].is_string())
      r.fail("architectures", "must be a non-empty list of strings");
    c.architecture = archs->items()[0].as_string();
  } else {
    c.architecture = architecture_from_model_type(r.string_or("model_type", ""));
  }
  bool supported = false;
  for (const auto& a : supported_architectures()) supported = supported || a == c.architecture;
  if (!supported)
    throw EngineError("UNSUPPORTED_ARCHITECTURE",
                      path + ": architecture " + c.architecture + " is not supported; supported: " + supported_list() +
                          ", GPT2LMHeadModel, and any model exported as a TorchScript .pt file");

  c.vocab_size = r.positive_int("vocab_size");
  c.hidden_size = r.positive_int("hidden_size");
  c.intermediate_size = r.positive_int("intermediate_size");
  c.num_layers = r.positive_int("num_hidden_layers");
  if (c.num_layers > kMaxLayers) r.fail("num_hidden_layers", "is " + std::to_string(c.num_layers) + ", implausibly large (at most " + std::to_string(kMaxLayers) + ")");
  c.num_heads = r.positive_int("num_attention_heads");
  c.num_kv_heads = r.positive_int_or("num_key_value_heads", c.num_heads);
  if (c.num_heads % c.num_kv_heads != 0)
    r.fail("num_key_value_heads", "(" + std::to_string(c.num_kv_heads) + ") must divide num_attention_heads (" +
                                      std::to_string(c.num_heads) + ")");
  if (r.get("head_dim") != nullptr) {
    c.head_dim = r.positive_int("head_dim");
  } else {
    if (c.hidden_size % c.num_heads != 0) r.fail("hidden_size", "must be divisible by num_attention_heads when head_dim is absent");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.head_dim % 2 != 0) r.fail("head_dim", "must be even for rotary embeddings");
  c.rms_norm_eps = r.positive_number_or("rms_norm_eps", 1e-6);
  c.rope_theta = r.positive_number_or("rope_theta", 10000.0);
  c.max_position_embeddings = r.positive_int_or("max_position_embeddings", 2048);
  c.tie_word_embeddings = r.bool_or("tie_word_embeddings", false);
  const std::string act = r.string_or("hidden_act", "silu");
  if (act != "silu") r.fail("hidden_act", "is \"" + act + "\"; only \"silu\" is supported");

  const bool is_llama = c.architecture == "LlamaForCausalLM";
  if (is_llama) {
    bool attention_bias = r.bool_or("attention_bias", false);
    c.qkv_bias = attention_bias;
    c.o_bias = attention_bias;
    c.mlp_bias = r.bool_or("mlp_bias", false);
  }
  if (c.architecture == "Qwen2ForCausalLM") c.qkv_bias = true;
  if (c.architecture == "Qwen3ForCausalLM") {
    c.qk_norm = true;
    bool attention_bias = r.bool_or("attention_bias", false);
    c.qkv_bias = attention_bias;
    c.o_bias = attention_bias;
  }

  c.layer_windows = layer_windows(r, c);

  if (const json::Value* rs = r.get("rope_scaling")) {
    if (!rs->is_object()) r.fail("rope_scaling", "must be an object or null");
    ConfigReader s{*rs, path + " rope_scaling"};
    std::string type = s.string_or("rope_type", s.string_or("type", "default"));
    if (type == "default") {
      c.rope_scaling.kind = RopeScaling::Kind::None;
    } else if (type == "linear") {
      c.rope_scaling.kind = RopeScaling::Kind::Linear;
      c.rope_scaling.factor = s.positive_number_or("factor", 0);
      if (c.rope_scaling.factor <= 0) s.fail("factor", "is missing");
    } else if (type == "llama3") {
      c.rope_scaling.kind = RopeScaling::Kind::Llama3;
      c.rope_scaling.factor = s.positive_number_or("factor", 0);
      c.rope_scaling.low_freq_factor = s.positive_number_or("low_freq_factor", 0);
      c.rope_scaling.high_freq_factor = s.positive_number_or("high_freq_factor", 0);
      c.rope_scaling.original_max_position_embeddings = s.positive_number_or("original_max_position_embeddings", 0);
      if (c.rope_scaling.factor <= 0 || c.rope_scaling.low_freq_factor <= 0 || c.rope_scaling.high_freq_factor <= 0 ||
          c.rope_scaling.original_max_position_embeddings <= 0)
        s.fail("factor", "llama3 scaling needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings");
      if (c.rope_scaling.high_freq_factor <= c.rope_scaling.low_freq_factor)
        s.fail("high_freq_factor", "must exceed low_freq_factor");
    } else {
      s.fail("rope_type", "\"" + type + "\" is not supported (supported: default, linear, llama3)");
    }
  }

  if (!r.token_ids("eos_token_id", c.eos_ids)) c.eos_ids.clear();
  const std::string gen_path = dir + "/generation_config.json";
  if (file_exists(gen_path)) {
    json::Value gen = parse_json_file(gen_path);
    if (!gen.is_object()) throw EngineError("CONFIG_INVALID", gen_path + ": expected a JSON object");
    ConfigReader g{gen, gen_path};
    std::vector<int64_t> ids;
    if (g.token_ids("eos_token_id", ids)) c.eos_ids = ids;
  }
  for (int64_t id : c.eos_ids)
    if (id >= c.vocab_size)
      throw EngineError("CONFIG_INVALID", path + ": eos token id " + std::to_string(id) + " is outside the vocabulary (" +
                                              std::to_string(c.vocab_size) + ")");
  return c;
}

std::vector<TensorSpec> required_tensors(const ModelConfig& c) {
  std::vector<TensorSpec> t;
  const int64_t H = c.hidden_size, D = c.head_dim, I = c.intermediate_size;
  const int64_t q_out = c.num_heads * D, kv_out = c.num_kv_heads * D;
  t.push_back({"model.embed_tokens.weight", {c.vocab_size, H}});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", {H}});
    t.push_back({p + "self_attn.q_proj.weight", {q_out, H}});
    t.push_back({p + "self_attn.k_proj.weight", {kv_out, H}});
    t.push_back({p + "self_attn.v_proj.weight", {kv_out, H}});
    t.push_back({p + "self_attn.o_proj.weight", {H, q_out}});
    if (c.qkv_bias) {
      t.push_back({p + "self_attn.q_proj.bias", {q_out}});
      t.push_back({p + "self_attn.k_proj.bias", {kv_out}});
      t.push_back({p + "self_attn.v_proj.bias", {kv_out}});
    }
    if (c.o_bias) t.push_back({p + "self_attn.o_proj.bias", {H}});
    if (c.qk_norm) {
      t.push_back({p + "self_attn.q_norm.weight", {D}});
      t.push_back({p + "self_attn.k_norm.weight", {D}});
    }
    t.push_back({p + "post_attention_layernorm.weight", {H}});
    t.push_back({p + "mlp.gate_proj.weight", {I, H}});
    t.push_back({p + "mlp.up_proj.weight", {I, H}});
    t.push_back({p + "mlp.down_proj.weight", {H, I}});
    if (c.mlp_bias) {
      t.push_back({p + "mlp.gate_proj.bias", {I}});
      t.push_back({p + "mlp.up_proj.bias", {I}});
      t.push_back({p + "mlp.down_proj.bias", {H}});
    }
  }
  t.push_back({"model.norm.weight", {H}});
  if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {c.vocab_size, H}});
  return t;
}

std::vector<double> rope_inv_freq(const ModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv[static_cast<size_t>(i)] = 1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(c.head_dim));
  const RopeScaling& s = c.rope_scaling;
  if (s.kind == RopeScaling::Kind::Linear) {
    for (auto& f : inv) f /= s.factor;
  } else if (s.kind == RopeScaling::Kind::Llama3) {
    const double low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
    const double high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
    for (auto& f : inv) {
      const double wavelen = 2 * kPi / f;
      if (wavelen > low_wavelen) {
        f = f / s.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
                              (s.high_freq_factor - s.low_freq_factor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  return inv;
}

}  // namespace aeb
