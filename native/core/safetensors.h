// Memory-mapped safetensors files with full header validation before any data is touched.
// Format: u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets:[b,e)},
// "__metadata__": {str: str}}, then the data section; offsets are relative to its start.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace aeb {

enum class StDtype { F32, F16, BF16, F64, I64, I32, I16, I8, U8, U16, U32, U64, BOOL, F8_E4M3, F8_E5M2 };

const char* st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);

// Read-only private mapping of a whole file; unmapped on destruction.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws EngineError FILE_NOT_FOUND / ...
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets inside the data section
  uint64_t end = 0;
  int64_t numel() const;
};

// One validated safetensors file. Tensor data pointers stay valid while the object lives.
class SafetensorsFile {
 public:
  // Validates: length prefix, header inside the file, strict JSON, entry structure, dtype,
  // shape × dtype size == byte range, ranges inside the data section and non-overlapping.
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const { return file_->path(); }
  const std::map<std::string, StTensor>& tensors() const { return tensors_; }
  const StTensor* find(const std::string& name) const;
  const uint8_t* tensor_data(const StTensor& t) const { return data_ + t.begin; }

 private:
  std::unique_ptr<MappedFile> file_;
  const uint8_t* data_ = nullptr;  // start of the data section
  uint64_t data_size_ = 0;
  std::map<std::string, StTensor> tensors_;
};

// Largest header accepted (the reference implementation uses 100 MB).
constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1024 * 1024;

}  // namespace aeb
