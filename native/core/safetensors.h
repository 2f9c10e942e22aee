// Safetensors files with full header validation before any data is touched. Data is read with
// pread into memory the caller owns, never through a mapping: a file that shrinks while it is
// being loaded (rewritten in place by a converter) then gives an error, not a SIGBUS.
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

// A regular file opened read-only; the descriptor is closed on destruction.
class ReadOnlyFile {
 public:
  explicit ReadOnlyFile(const std::string& path);  // throws EngineError FILE_NOT_FOUND / FILE_UNREADABLE
  ~ReadOnlyFile();
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;
  // Size when opened.
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Reads exactly `length` bytes at `offset` into `dst`; throws SAFETENSORS_TRUNCATED when the
  // file now ends before them (it changed after opening), FILE_UNREADABLE on an I/O error.
  void read_at(uint64_t offset, uint64_t length, void* dst, const std::string& what) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets inside the data section
  uint64_t end = 0;
  int64_t numel() const;
};

// One validated safetensors file, kept open for reading tensor data.
class SafetensorsFile {
 public:
  // Validates: length prefix, header inside the file, strict JSON, entry structure, dtype,
  // shape × dtype size == byte range, ranges inside the data section and non-overlapping.
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const { return file_->path(); }
  const std::map<std::string, StTensor>& tensors() const { return tensors_; }
  const StTensor* find(const std::string& name) const;
  // Copies the tensor's bytes (t.end - t.begin) into `dst`.
  void read_tensor(const StTensor& t, void* dst) const;

 private:
  std::unique_ptr<ReadOnlyFile> file_;
  uint64_t data_start_ = 0;  // file offset of the data section
  uint64_t data_size_ = 0;
  std::map<std::string, StTensor> tensors_;
};

// Largest header accepted (the reference implementation uses 100 MB).
constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1024 * 1024;

}  // namespace aeb
