// Checkpoint tensors as torch tensors: the bytes are read into host memory owned by a tensor of
// the file's dtype, then moved to the model's device and compute dtype.
#pragma once

#include <ATen/ATen.h>

#include "checkpoint.h"

namespace aeb {

// F32 / F16 / BF16; the loaders reject every other stored dtype before reading.
at::ScalarType scalar_type_of(StDtype d);

// A contiguous tensor on `device` in `dtype` that owns its memory. Throws SAFETENSORS_TRUNCATED
// when the file lost the tensor's bytes after its header was validated.
at::Tensor load_checkpoint_tensor(const CheckpointTensor& ct, at::Device device, at::ScalarType dtype);

}  // namespace aeb
