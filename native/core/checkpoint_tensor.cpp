#include "checkpoint_tensor.h"

#include "engine.h"

namespace aeb {

at::ScalarType scalar_type_of(StDtype d) {
  switch (d) {
    case StDtype::F32: return at::kFloat;
    case StDtype::F16: return at::kHalf;
    case StDtype::BF16: return at::kBFloat16;
    default:
      throw EngineError("DTYPE_UNSUPPORTED", std::string("internal: stored dtype ") + st_dtype_name(d) + " reached the tensor loader");
  }
}

at::Tensor load_checkpoint_tensor(const CheckpointTensor& ct, at::Device device, at::ScalarType dtype) {
  const StTensor& t = *ct.tensor;
  at::Tensor host = at::empty(t.shape, at::TensorOptions().dtype(scalar_type_of(t.dtype)));
  ct.file->read_tensor(t, host.data_ptr());
  // `host` is fresh: when device and dtype already match it is returned as is, with no copy.
  return host.to(device, dtype).contiguous();
}

}  // namespace aeb
