// A Hugging Face safetensors checkpoint: model.safetensors, or shards listed by
// model.safetensors.index.json. Every file's header is validated when opened.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "safetensors.h"

namespace aeb {

struct CheckpointTensor {
  const SafetensorsFile* file;
  const StTensor* tensor;
};

class Checkpoint {
 public:
  // Throws FILE_NOT_FOUND, SAFETENSORS_* or SAFETENSORS_INDEX_INVALID.
  explicit Checkpoint(const std::string& dir);
  const CheckpointTensor* find(const std::string& name) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, CheckpointTensor> tensors_;
};

}  // namespace aeb
