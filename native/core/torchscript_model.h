// Models saved with torch.jit.save (or saveTorchScriptModule), in one of two export shapes,
// detected from the schema of `forward`:
//   full recompute:  forward(input_ids: Tensor[1, T]) -> Tensor logits [1, T, V]
//   KV cache (HF):   forward(input_ids: Tensor[1, T], past_key_values: P) -> (logits, P')
//                    P = List[Tuple[Tensor, Tensor]] / List[List[Tensor]] (first call: empty
//                    list) or Optional[...] of those (first call: None); P' is fed back.
// Metadata the file may lack comes from a sidecar JSON, `<file>.json` or else `aeb.json` in the
// same directory: {"eos_token_id": int | [int], "vocab_size": int, "max_seq_len": int,
// "tokenizer_dir": string}. Integer module attributes of the same names are read too; the
// sidecar wins. vocab_size is also checked against one probe forward at load.
// The JIT's graph optimiser is off while the model runs (it would re-specialise at every new
// sequence length, so step timings would measure compilation); AEB_TORCHSCRIPT_OPTIMIZE=1
// turns it on.
#pragma once

#include <memory>
#include <string>

#include "engine.h"

namespace aeb {

// True for a regular file, or a path ending in .pt, .pth, .ts, .torchscript or .jit (so a
// missing TorchScript file is reported as such, not as a missing config.json).
bool is_torchscript_path(const std::string& path);

// Throws FILE_NOT_FOUND, TORCHSCRIPT_INVALID (not a loadable TorchScript archive),
// TORCHSCRIPT_UNSUPPORTED (forward has neither supported shape), CONFIG_INVALID (sidecar or
// missing metadata), DEVICE_UNAVAILABLE, DTYPE_UNSUPPORTED, INVALID_ARGUMENT.
std::unique_ptr<Model> load_torchscript_model(const LoadOptions& options);

}  // namespace aeb
