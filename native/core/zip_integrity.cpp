#include "zip_integrity.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <utility>
#include <cstdint>
#include <vector>

#include "engine.h"
#include "safetensors.h"

#ifdef AEB_HAVE_ZLIB
#include <zlib.h>
#endif

namespace aeb {

namespace {

constexpr uint32_t kEndSig = 0x06054b50, kEnd64Sig = 0x06064b50, kEnd64LocatorSig = 0x07064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;

uint64_t le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint32_t crc32_of(const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

class ZipReader {
 public:
  explicit ZipReader(const std::string& path) : file_(path), path_(path) {}
  uint64_t size() const { return file_.size(); }
  std::vector<uint8_t> read(uint64_t offset, uint64_t length, const char* what) const {
    if (offset > size() || length > size() - offset) invalid(std::string(what) + " lies outside the file");
    std::vector<uint8_t> out(static_cast<size_t>(length));
    try {
      file_.read_at(offset, length, out.data(), what);
    } catch (const EngineError& e) {
      invalid(e.what());
    }
    return out;
  }
  [[noreturn]] void invalid(const std::string& what) const {
    throw EngineError("TORCHSCRIPT_INVALID", path_ + " is a corrupt zip archive: " + what);
  }

 private:
  ReadOnlyFile file_;
  std::string path_;
};

// Tensor storages: "<root>/data/N" (parameters, buffers) and "<root>/constants/N".
bool is_tensor_storage(const std::string& name) {
  return name.find("/data/") != std::string::npos || name.find("/constants/") != std::string::npos;
}

// Code, pickles and debug records are small; bigger entries (extra files) are left to libtorch.
constexpr uint64_t kMaxCheckedEntry = uint64_t{64} << 20;

// The entry's bytes as stored (method 0) or inflated (method 8, raw deflate); false when this
// build cannot read the method (no zlib), so the entry is left to libtorch.
bool entry_contents(const ZipReader& zip, const std::string& name, uint64_t method, std::vector<uint8_t> raw,
                    uint64_t uncompressed, std::vector<uint8_t>& out) {
  if (method == 0) {
    out = std::move(raw);
    return true;
  }
#ifdef AEB_HAVE_ZLIB
  if (method == 8) {
    out.assign(static_cast<size_t>(uncompressed), 0);
    z_stream s{};
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) zip.invalid("cannot start inflating entry '" + name + "'");
    s.next_in = const_cast<Bytef*>(raw.data());
    s.avail_in = static_cast<uInt>(raw.size());
    s.next_out = out.data();
    s.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&s, Z_FINISH);
    const uint64_t produced = s.total_out;
    inflateEnd(&s);
    if (rc != Z_STREAM_END || produced != uncompressed)
      zip.invalid("entry '" + name + "' does not inflate to its recorded " + std::to_string(uncompressed) + " bytes");
    return true;
  }
#endif
  return false;
}

}  // namespace

void check_zip_integrity(const std::string& path) {
  ZipReader zip(path);
  const uint64_t size = zip.size();
  if (size < 22) return;
  // End of central directory: the last signature in the final 64 KiB + 22 bytes.
  const uint64_t tail_len = std::min<uint64_t>(size, 65535 + 22);
  const std::vector<uint8_t> tail = zip.read(size - tail_len, tail_len, "the end record");
  int64_t end = -1;
  for (int64_t i = static_cast<int64_t>(tail_len) - 22; i >= 0; --i)
    if (le(&tail[static_cast<size_t>(i)], 4) == kEndSig) {
      end = i;
      break;
    }
  if (end < 0) return;  // not a zip: libtorch refuses it with its own message
  const uint8_t* e = &tail[static_cast<size_t>(end)];
  uint64_t entries = le(e + 10, 2), cd_size = le(e + 12, 4), cd_offset = le(e + 16, 4);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    const uint64_t end_abs = size - tail_len + static_cast<uint64_t>(end);
    if (end_abs < 20) zip.invalid("zip64 end locator missing");
    const std::vector<uint8_t> loc = zip.read(end_abs - 20, 20, "the zip64 end locator");
    if (le(loc.data(), 4) != kEnd64LocatorSig) zip.invalid("zip64 end locator missing");
    const std::vector<uint8_t> e64 = zip.read(le(loc.data() + 8, 8), 56, "the zip64 end record");
    if (le(e64.data(), 4) != kEnd64Sig) zip.invalid("zip64 end record missing");
    entries = le(e64.data() + 32, 8);
    cd_size = le(e64.data() + 40, 8);
    cd_offset = le(e64.data() + 48, 8);
  }
  const std::vector<uint8_t> cd = zip.read(cd_offset, cd_size, "the central directory");
  size_t pos = 0;
  for (uint64_t i = 0; i < entries; ++i) {
    if (pos + 46 > cd.size() || le(&cd[pos], 4) != kCentralSig) zip.invalid("central directory entry " + std::to_string(i) + " is damaged");
    const uint8_t* c = &cd[pos];
    const uint64_t method = le(c + 10, 2), crc = le(c + 16, 4);
    uint64_t compressed = le(c + 20, 4), uncompressed = le(c + 24, 4), local = le(c + 42, 4);
    const size_t name_len = le(c + 28, 2), extra_len = le(c + 30, 2), comment_len = le(c + 32, 2);
    if (pos + 46 + name_len + extra_len + comment_len > cd.size()) zip.invalid("central directory entry " + std::to_string(i) + " runs past its end");
    const std::string name(reinterpret_cast<const char*>(c + 46), name_len);
    // Zip64 extra field: 64-bit values for the fields saturated above, in this order.
    for (size_t x = 46 + name_len; x + 4 <= 46 + name_len + extra_len;) {
      const uint64_t id = le(c + x, 2), len = le(c + x + 2, 2);
      if (x + 4 + len > 46 + name_len + extra_len) break;
      if (id == 0x0001) {
        size_t f = x + 4;
        for (uint64_t* field : {&uncompressed, &compressed, &local})
          if (*field == 0xFFFFFFFF && f + 8 <= x + 4 + len) {
            *field = le(c + f, 8);
            f += 8;
          }
      }
      x += 4 + len;
    }
    pos += 46 + name_len + extra_len + comment_len;
    // Tensor bytes are large, and libtorch checks their sizes against the pickled metadata.
    if (is_tensor_storage(name) || compressed > kMaxCheckedEntry || uncompressed > kMaxCheckedEntry) continue;
    if (method == 0 && compressed != uncompressed) zip.invalid("entry '" + name + "' is stored with two different sizes");
    const std::vector<uint8_t> header = zip.read(local, 30, "a local header");
    if (le(header.data(), 4) != kLocalSig) zip.invalid("entry '" + name + "' has no local header");
    const uint64_t data = local + 30 + le(header.data() + 26, 2) + le(header.data() + 28, 2);
    std::vector<uint8_t> bytes;
    if (!entry_contents(zip, name, method, zip.read(data, compressed, "an entry's data"), uncompressed, bytes)) continue;
    const uint32_t got = crc32_of(bytes.data(), bytes.size());
    if (got != crc) {
      char text[64];
      std::snprintf(text, sizeof text, " (stored 0x%08llx, computed 0x%08x)", static_cast<unsigned long long>(crc), got);
      zip.invalid("entry '" + name + "' fails its CRC-32 check" + text);
    }
  }
}

}  // namespace aeb
