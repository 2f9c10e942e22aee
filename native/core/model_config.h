// Hugging Face config.json / generation_config.json → ModelConfig, and the tensors each
// supported architecture needs. No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aeb {

struct RopeScaling {
  enum class Kind { None, Linear, Llama3 } kind = Kind::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
};

// More layers than any published model has by an order of magnitude: a config.json beyond it is
// corrupt, and the loaders would otherwise build per-layer tensor lists until memory runs out.
constexpr int64_t kMaxLayers = 4096;

struct ModelConfig {
  std::string architecture;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 0;
  // Sliding-window attention, per layer (num_layers entries, empty when no layer has one): a
  // query attends to the last `layer_windows[l]` positions, itself included (HF's
  // kv_idx > q_idx - sliding_window); 0 = full attention. Mistral windows every layer;
  // Qwen2/Qwen3 with use_sliding_window the layers from max_window_layers on, or those that
  // `layer_types` names "sliding_attention".
  std::vector<int64_t> layer_windows;
  int64_t window_of(int64_t layer) const {
    return layer_windows.empty() ? 0 : layer_windows[static_cast<size_t>(layer)];
  }
  bool tie_word_embeddings = false;
  bool qkv_bias = false;       // Qwen2 always; Llama with attention_bias
  bool o_bias = false;         // Llama with attention_bias
  bool mlp_bias = false;       // Llama with mlp_bias
  bool qk_norm = false;        // Qwen3: RMSNorm over head_dim on q and k
  std::vector<int64_t> eos_ids;
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

const std::vector<std::string>& supported_architectures();

// Reads DIR/config.json and, when present, DIR/generation_config.json (its eos_token_id wins).
// Throws EngineError FILE_NOT_FOUND, CONFIG_INVALID or UNSUPPORTED_ARCHITECTURE.
ModelConfig read_model_config(const std::string& dir);

// Every tensor the architecture reads, with its expected shape.
std::vector<TensorSpec> required_tensors(const ModelConfig& cfg);

// RoPE inverse frequencies (head_dim / 2 entries) after rope_scaling.
std::vector<double> rope_inv_freq(const ModelConfig& cfg);

std::string read_text_file(const std::string& path);  // FILE_NOT_FOUND / FILE_UNREADABLE
bool file_exists(const std::string& path);

}  // namespace aeb
