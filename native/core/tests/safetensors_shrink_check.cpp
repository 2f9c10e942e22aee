// A safetensors file that shrinks after its header was validated (a converter rewriting it in
// place while another process loads it): reading a tensor whose bytes are gone must throw
// SAFETENSORS_TRUNCATED. Reading through a memory mapping would kill the process with SIGBUS.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "engine.h"
#include "safetensors.h"

static int failures = 0;
static void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what);
    ++failures;
  }
}

int main() {
  char dir_template[] = "/tmp/aeb-shrink-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return 2;
  const std::string path = std::string(dir) + "/model.safetensors";

  // Two F32 tensors of 64 Ki elements each (256 KiB), filled with their element index.
  const std::string header = R"({"a":{"dtype":"F32","shape":[65536],"data_offsets":[0,262144]},)"
                             R"("b":{"dtype":"F32","shape":[65536],"data_offsets":[262144,524288]}})";
  std::vector<float> values(131072);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  {
    std::ofstream out(path, std::ios::binary);
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << header;
    out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
  }

  aeb::SafetensorsFile file(path);
  std::vector<float> got(65536);
  file.read_tensor(*file.find("a"), got.data());
  check(std::memcmp(got.data(), values.data(), got.size() * sizeof(float)) == 0, "tensor a reads back its bytes");

  // Cut the file in the middle of tensor b, as an in-place rewrite does.
  if (truncate(path.c_str(), static_cast<off_t>(8 + header.size() + 262144 + 1000)) != 0) return 2;
  std::string code;
  try {
    file.read_tensor(*file.find("b"), got.data());
  } catch (const aeb::EngineError& e) {
    code = e.code();
    check(std::strstr(e.what(), "tensor 'b'") != nullptr, "the error names the tensor");
    check(std::strstr(e.what(), "changed while loading") != nullptr, "the error says the file changed");
  }
  check(code == "SAFETENSORS_TRUNCATED", "a shrunken file gives SAFETENSORS_TRUNCATED");
  // Tensor a is still whole in the shorter file.
  file.read_tensor(*file.find("a"), got.data());
  check(got[65535] == 65535.0f, "tensor a still reads");

  std::remove(path.c_str());
  rmdir(dir);
  if (failures == 0) std::printf("safetensors_shrink_check: ok\n");
  return failures == 0 ? 0 : 1;
}
