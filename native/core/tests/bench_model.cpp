// End-to-end decode benchmark through load_model/generate on any device.
//   bench_model write DIR [125m|stories]      writes a random-weight f32 Llama checkpoint
//   bench_model run DIR DEVICE DTYPE THREADS [tokens] [prompt_tokens]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine.h"

namespace {

struct Spec {
  int64_t H, L, NH, NKV, I, V;
};

int write_checkpoint(const std::string& dir, const Spec& s) {
  const int64_t D = s.H / s.NH;
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors = {{"model.embed_tokens.weight", {s.V, s.H}}};
  for (int64_t l = 0; l < s.L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    tensors.push_back({p + "input_layernorm.weight", {s.H}});
    tensors.push_back({p + "self_attn.q_proj.weight", {s.NH * D, s.H}});
    tensors.push_back({p + "self_attn.k_proj.weight", {s.NKV * D, s.H}});
    tensors.push_back({p + "self_attn.v_proj.weight", {s.NKV * D, s.H}});
    tensors.push_back({p + "self_attn.o_proj.weight", {s.H, s.NH * D}});
    tensors.push_back({p + "post_attention_layernorm.weight", {s.H}});
    tensors.push_back({p + "mlp.gate_proj.weight", {s.I, s.H}});
    tensors.push_back({p + "mlp.up_proj.weight", {s.I, s.H}});
    tensors.push_back({p + "mlp.down_proj.weight", {s.H, s.I}});
  }
  tensors.push_back({"model.norm.weight", {s.H}});
  tensors.push_back({"lm_head.weight", {s.V, s.H}});
  std::string header = "{";
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    int64_t n = 1;
    std::string shape;
    for (size_t j = 0; j < tensors[i].second.size(); ++j) {
      n *= tensors[i].second[j];
      shape += (j ? "," : "") + std::to_string(tensors[i].second[j]);
    }
    header += (i ? "," : "") + std::string("\"") + tensors[i].first + "\":{\"dtype\":\"F32\",\"shape\":[" + shape +
              "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + 4 * n) + "]}";
    offset += 4 * static_cast<uint64_t>(n);
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::ofstream out(dir + "/model.safetensors", std::ios::binary);
  uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (auto d : t.second) n *= d;
    const bool norm = t.second.size() == 1;
    std::vector<float> buf(static_cast<size_t>(n));
    for (auto& v : buf) v = norm ? 1.0f : normal(rng);
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(4 * n));
  }
  std::ofstream cfg(dir + "/config.json");
  cfg << "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":" << s.H << ",\"num_hidden_layers\":" << s.L
      << ",\"num_attention_heads\":" << s.NH << ",\"num_key_value_heads\":" << s.NKV << ",\"intermediate_size\":" << s.I
      << ",\"vocab_size\":" << s.V << ",\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-5,\"eos_token_id\":2}";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "write") {
    const std::string preset = argc > 3 ? argv[3] : "125m";
    Spec s = preset == "stories" ? Spec{64, 5, 8, 4, 172, 512} : Spec{768, 12, 12, 12, 2048, 32000};
    return write_checkpoint(argv[2], s);
  }
  if (argc < 6 || std::string(argv[1]) != "run") {
    std::fprintf(stderr, "usage: %s write DIR [125m|stories] | run DIR DEVICE DTYPE THREADS [tokens] [prompt]\n", argv[0]);
    return 2;
  }
  try {
    aeb::LoadOptions lo;
    lo.path = argv[2];
    lo.device = argv[3];
    lo.dtype = argv[4];
    lo.threads = std::atoi(argv[5]);
    lo.max_seq_len = 1024;
    const int64_t tokens = argc > 6 ? std::atoll(argv[6]) : 128;
    const int64_t prompt = argc > 7 ? std::atoll(argv[7]) : 16;
    const int64_t t0 = aeb::steady_now_ns();
    auto model = aeb::load_model(lo);
    const double load_ms = (aeb::steady_now_ns() - t0) / 1e6;
    aeb::GenerateOptions go;
    for (int64_t i = 0; i < prompt; ++i) go.prompt_ids.push_back(3 + i);
    go.max_new_tokens = tokens;
    go.use_default_stop_ids = false;
    std::atomic<bool> cancel{false};
    model->generate(go, nullptr, cancel);  // warm-up
    auto r = model->generate(go, nullptr, cancel);
    const double decode_s = (r.token_ns.back() - r.token_ns.front()) / 1e9;
    const double tps = (r.ids.size() - 1) / decode_s;
    const auto& info = model->info();
    std::printf("device=%s dtype=%s threads=%d params=%.1fM load=%.0fms prompt=%lld prefill=%.2fms ttft=%.2fms "
                "decode=%.1f tok/s (%.2f GB/s of weights)\n",
                info.device.c_str(), info.dtype.c_str(), info.threads, info.num_parameters / 1e6, load_ms,
                static_cast<long long>(prompt), (r.prefill_done_ns - r.start_ns) / 1e6, (r.token_ns[0] - r.start_ns) / 1e6,
                tps, tps * info.weight_bytes / 1e9);
    return 0;
  } catch (const aeb::EngineError& e) {
    std::fprintf(stderr, "EngineError %s: %s\n", e.code().c_str(), e.what());
    return 1;
  }
}
