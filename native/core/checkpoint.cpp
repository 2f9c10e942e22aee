#include "checkpoint.h"

#include "engine.h"
#include "json.h"
#include "model_config.h"

namespace aeb {

namespace {

void add_file_tensors(const SafetensorsFile& file, std::map<std::string, CheckpointTensor>& out) {
  for (const auto& kv : file.tensors()) out[kv.first] = CheckpointTensor{&file, &kv.second};
}

}  // namespace

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";
  if (file_exists(index_path)) {
    std::string text = read_text_file(index_path);
    json::Value root;
    try {
      root = json::parse(text);
    } catch (const json::JsonError& e) {
      throw EngineError("SAFETENSORS_INDEX_INVALID", index_path + ": " + e.what());
    }
    const json::Value* map = root.find("weight_map");
    if (map == nullptr || !map->is_object() || map->members().empty())
      throw EngineError("SAFETENSORS_INDEX_INVALID", index_path + ": \"weight_map\" must be a non-empty object");
    std::map<std::string, const SafetensorsFile*> opened;
    for (const auto& [name, file_value] : map->members()) {
      if (!file_value.is_string())
        throw EngineError("SAFETENSORS_INDEX_INVALID", index_path + ": weight_map[\"" + name + "\"] is not a file name");
      const std::string& file_name = file_value.as_string();
      // Shards live next to the index: no directories, no escaping the checkpoint directory.
      if (file_name.empty() || file_name.find('/') != std::string::npos || file_name == "." || file_name == "..")
        throw EngineError("SAFETENSORS_INDEX_INVALID", index_path + ": weight_map[\"" + name + "\"] names an invalid shard \"" + file_name + "\"");
      auto it = opened.find(file_name);
      if (it == opened.end()) {
        const std::string shard_path = dir + "/" + file_name;
        if (!file_exists(shard_path))
          throw EngineError("FILE_NOT_FOUND", index_path + " lists shard " + file_name + " but " + shard_path + " does not exist");
        files_.push_back(std::make_unique<SafetensorsFile>(shard_path));
        it = opened.emplace(file_name, files_.back().get()).first;
      }
      const StTensor* t = it->second->find(name);
      if (t == nullptr)
        throw EngineError("TENSOR_MISSING", index_path + " maps tensor '" + name + "' to " + file_name + ", which does not contain it");
      tensors_[name] = CheckpointTensor{it->second, t};
    }
    return;
  }
  if (!file_exists(single_path))
    throw EngineError("FILE_NOT_FOUND", "no model.safetensors or model.safetensors.index.json in " + dir);
  files_.push_back(std::make_unique<SafetensorsFile>(single_path));
  add_file_tensors(*files_.back(), tensors_);
}

const CheckpointTensor* Checkpoint::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace aeb
