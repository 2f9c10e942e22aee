#include "safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine.h"
#include "json.h"

namespace aeb {

namespace {

struct DtypeInfo {
  const char* name;
  StDtype dtype;
  size_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {"F32", StDtype::F32, 4},   {"F16", StDtype::F16, 2},   {"BF16", StDtype::BF16, 2},
    {"F64", StDtype::F64, 8},   {"I64", StDtype::I64, 8},   {"I32", StDtype::I32, 4},
    {"I16", StDtype::I16, 2},   {"I8", StDtype::I8, 1},     {"U8", StDtype::U8, 1},
    {"U16", StDtype::U16, 2},   {"U32", StDtype::U32, 4},   {"U64", StDtype::U64, 8},
    {"BOOL", StDtype::BOOL, 1}, {"F8_E4M3", StDtype::F8_E4M3, 1}, {"F8_E5M2", StDtype::F8_E5M2, 1},
};

[[noreturn]] void fail(const char* code, const std::string& path, const std::string& what) {
  throw EngineError(code, "safetensors file " + path + ": " + what);
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

const char* st_dtype_name(StDtype d) {
  for (const auto& info : kDtypes)
    if (info.dtype == d) return info.name;
  return "?";
}

size_t st_dtype_size(StDtype d) {
  for (const auto& info : kDtypes)
    if (info.dtype == d) return info.size;
  return 0;
}

int64_t StTensor::numel() const {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

ReadOnlyFile::ReadOnlyFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    int err = errno;
    throw EngineError(err == ENOENT ? "FILE_NOT_FOUND" : "FILE_UNREADABLE",
                      "cannot open " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw EngineError("FILE_UNREADABLE", path + " is not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

ReadOnlyFile::~ReadOnlyFile() { ::close(fd_); }

void ReadOnlyFile::read_at(uint64_t offset, uint64_t length, void* dst, const std::string& what) const {
  auto* out = static_cast<uint8_t*>(dst);
  uint64_t done = 0;
  while (done < length) {
    // Linux reads at most ~2 GiB per call.
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(length - done, uint64_t{1} << 30));
    const ssize_t n = ::pread(fd_, out + done, chunk, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      throw EngineError("FILE_UNREADABLE", "cannot read " + what + " from " + path_ + ": " + std::strerror(err));
    }
    if (n == 0)
      throw EngineError("SAFETENSORS_TRUNCATED",
                        path_ + " ends at byte " + std::to_string(offset + done) + ", inside " + what + " (bytes " +
                            std::to_string(offset) + ".." + std::to_string(offset + length) +
                            "); the file was " + std::to_string(size_) + " bytes when opened: it changed while loading");
    done += static_cast<uint64_t>(n);
  }
}

const StTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(std::make_unique<ReadOnlyFile>(path)) {
  const uint64_t size = file_->size();
  if (size < 8) fail("SAFETENSORS_TRUNCATED", path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint8_t prefix[8];
  file_->read_at(0, 8, prefix, "the header length");
  const uint64_t header_len = read_u64_le(prefix);
  if (header_len == 0) fail("SAFETENSORS_HEADER_INVALID", path, "header length is 0");
  if (header_len > kMaxSafetensorsHeader)
    fail("SAFETENSORS_HEADER_INVALID", path, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len > size - 8)
    fail("SAFETENSORS_TRUNCATED", path,
         "header length " + std::to_string(header_len) + " runs past the end of the file (" + std::to_string(size) + " bytes)");

  std::string header(static_cast<size_t>(header_len), '\0');
  file_->read_at(8, header_len, header.data(), "the header");
  json::Value root;
  try {
    root = json::parse(header.data(), header.size());
  } catch (const json::JsonError& e) {
    fail("SAFETENSORS_HEADER_INVALID", path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) fail("SAFETENSORS_HEADER_INVALID", path, std::string("header is a JSON ") + json::type_name(root.type()) + ", expected an object");

  data_start_ = 8 + header_len;
  data_size_ = size - 8 - header_len;

  for (const auto& [name, entry] : root.members()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("SAFETENSORS_HEADER_INVALID", path, "__metadata__ must be an object of strings");
      for (const auto& [k, v] : entry.members())
        if (!v.is_string()) fail("SAFETENSORS_HEADER_INVALID", path, "__metadata__[\"" + k + "\"] is not a string");
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!entry.is_object()) fail("SAFETENSORS_HEADER_INVALID", path, where + " entry is not an object");
    for (const auto& member : entry.members())
      if (member.first != "dtype" && member.first != "shape" && member.first != "data_offsets")
        fail("SAFETENSORS_HEADER_INVALID", path, where + " has unknown field '" + member.first + "'");
    const json::Value* dtype = entry.find("dtype");
    const json::Value* shape = entry.find("shape");
    const json::Value* offsets = entry.find("data_offsets");
    if (dtype == nullptr || !dtype->is_string()) fail("SAFETENSORS_HEADER_INVALID", path, where + " lacks a string 'dtype'");
    if (shape == nullptr || !shape->is_array()) fail("SAFETENSORS_HEADER_INVALID", path, where + " lacks an array 'shape'");
    if (offsets == nullptr || !offsets->is_array() || offsets->items().size() != 2)
      fail("SAFETENSORS_HEADER_INVALID", path, where + " lacks 'data_offsets' [begin, end]");

    StTensor t;
    t.name = name;
    const DtypeInfo* info = nullptr;
    for (const auto& d : kDtypes)
      if (dtype->as_string() == d.name) info = &d;
    if (info == nullptr)
      fail("SAFETENSORS_DTYPE_UNKNOWN", path, where + " has unknown dtype '" + dtype->as_string() + "'");
    t.dtype = info->dtype;

    // Element count with overflow checks: every dim is a non-negative integer.
    unsigned __int128 bytes = info->size;
    for (const auto& dim : shape->items()) {
      if (!dim.is_integer() || dim.as_int() < 0)
        fail("SAFETENSORS_HEADER_INVALID", path, where + " shape has an entry that is not a non-negative integer");
      t.shape.push_back(dim.as_int());
      bytes *= static_cast<uint64_t>(dim.as_int());
      if (bytes > (static_cast<unsigned __int128>(1) << 64)) bytes = static_cast<unsigned __int128>(1) << 64;
    }
    const json::Value& b = offsets->items()[0];
    const json::Value& e = offsets->items()[1];
    if (!b.is_integer() || !e.is_integer() || b.as_int() < 0 || e.as_int() < 0)
      fail("SAFETENSORS_OFFSETS_INVALID", path, where + " data_offsets must be two non-negative integers");
    t.begin = static_cast<uint64_t>(b.as_int());
    t.end = static_cast<uint64_t>(e.as_int());
    if (t.end < t.begin)
      fail("SAFETENSORS_OFFSETS_INVALID", path, where + " data_offsets end " + std::to_string(t.end) + " < begin " + std::to_string(t.begin));
    if (bytes != static_cast<unsigned __int128>(t.end - t.begin)) {
      std::string shape_text;
      for (size_t i = 0; i < t.shape.size(); ++i) shape_text += (i ? "," : "") + std::to_string(t.shape[i]);
      fail("SAFETENSORS_SIZE_MISMATCH", path,
           where + " has shape [" + shape_text + "] of " + info->name + " but its byte range holds " +
               std::to_string(t.end - t.begin) + " bytes");
    }
    tensors_.emplace(name, std::move(t));
  }

  // Non-overlapping ranges, all inside the data section.
  std::vector<const StTensor*> sorted;
  for (const auto& kv : tensors_) sorted.push_back(&kv.second);
  std::sort(sorted.begin(), sorted.end(), [](const StTensor* a, const StTensor* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t prev_end = 0;
  const StTensor* prev = nullptr;
  bool packed = true;  // ranges tile [0, max_end) exactly, as every writer produces
  for (const StTensor* t : sorted) {
    if (t->begin == t->end) continue;  // empty tensors occupy nothing
    if (prev != nullptr && t->begin < prev_end)
      fail("SAFETENSORS_OFFSETS_OVERLAP", path,
           "tensor '" + t->name + "' bytes [" + std::to_string(t->begin) + "," + std::to_string(t->end) +
               ") overlap tensor '" + prev->name + "' bytes [" + std::to_string(prev->begin) + "," +
               std::to_string(prev->end) + ")");
    if (t->begin != prev_end) packed = false;
    prev_end = t->end;
    prev = t;
  }
  if (prev_end > data_size_) {
    if (packed)
      fail("SAFETENSORS_TRUNCATED", path,
           "the header declares " + std::to_string(prev_end) + " bytes of tensor data but the file holds only " +
               std::to_string(data_size_) + " (file truncated)");
    for (const StTensor* t : sorted)
      if (t->end > data_size_)
        fail("SAFETENSORS_OFFSET_OUT_OF_RANGE", path,
             "tensor '" + t->name + "' bytes [" + std::to_string(t->begin) + "," + std::to_string(t->end) +
                 ") lie outside the data section (" + std::to_string(data_size_) + " bytes)");
  }
}

void SafetensorsFile::read_tensor(const StTensor& t, void* dst) const {
  file_->read_at(data_start_ + t.begin, t.end - t.begin, dst, "tensor '" + t.name + "'");
}

}  // namespace aeb
