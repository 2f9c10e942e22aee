// GPT-2 family (Hugging Face GPT2LMHeadModel) from a safetensors checkpoint directory: learned
// position embeddings, pre-LayerNorm blocks, fused c_attn, Conv1D weights stored (in, out),
// GELU (tanh approximation for gelu_new / gelu_pytorch_tanh / gelu_fast, exact for gelu),
// lm_head tied to wte, preallocated KV cache, n_positions limit.
#pragma once

#include <memory>
#include <string>

#include "engine.h"

namespace aeb {

// DIR/config.json names GPT2LMHeadModel in "architectures" or has model_type "gpt2".
// False (never throws) for anything else, including unreadable or invalid JSON.
bool is_gpt2_checkpoint(const std::string& dir);

// Tensor names as HF saves them, with or without the "transformer." prefix. Throws
// FILE_NOT_FOUND, CONFIG_INVALID, TENSOR_MISSING, TENSOR_SHAPE_MISMATCH, DTYPE_UNSUPPORTED,
// DEVICE_UNAVAILABLE, INVALID_ARGUMENT, SAFETENSORS_* (see checkpoint.h).
std::unique_ptr<Model> load_gpt2_model(const LoadOptions& options);

}  // namespace aeb
