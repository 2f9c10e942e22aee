// Header fuzz: random mutations of a valid checkpoint's model.safetensors header must each
// either load or fail with an EngineError (never crash, never another exception type).
//   checkpoint_fuzz MODEL_DIR WORK_DIR [iterations] [seed]
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "engine.h"

static std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
static void spit(const std::string& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR WORK_DIR [iterations] [seed]\n", argv[0]);
    return 2;
  }
  const std::string src = argv[1], work = argv[2];
  const int iterations = argc > 3 ? std::atoi(argv[3]) : 1000;
  std::mt19937_64 rng(argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1);
  const std::string original = slurp(src + "/model.safetensors");
  spit(work + "/config.json", slurp(src + "/config.json"));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(original[i]);
  std::map<std::string, int> codes;
  int loaded = 0;
  const char* tokens[] = {"\"", "{", "}", "[", "]", ",", ":", "0", "-1", "1e400", "\\u0000", "99999999999999999999",
                          "null", "\"F64\"", "\"X\"", "\xff", " "};
  for (int it = 0; it < iterations; ++it) {
    std::string f = original;
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      const size_t pos = 8 + rng() % header_len;
      switch (rng() % 6) {
        case 0: f[pos] = static_cast<char>(rng() & 0xff); break;                  // random byte
        case 1: f[pos] = static_cast<char>('0' + rng() % 10); break;               // digit (offsets, shapes)
        case 2: f.replace(pos, 1 + rng() % 4, tokens[rng() % (sizeof tokens / sizeof *tokens)]); break;
        case 3: f.erase(pos, 1 + rng() % 8); break;                                // delete bytes
        case 4: f[rng() % 8] = static_cast<char>(rng() & 0xff); break;             // length prefix
        case 5: f.resize(rng() % f.size()); break;                                 // truncate
      }
    }
    spit(work + "/model.safetensors", f);
    try {
      aeb::LoadOptions lo;
      lo.path = work;
      lo.threads = 1;
      aeb::load_model(lo);
      ++loaded;
    } catch (const aeb::EngineError& e) {
      ++codes[e.code()];
    } catch (const std::exception& e) {
      std::fprintf(stderr, "iteration %d: non-EngineError exception: %s\n", it, e.what());
      return 1;
    }
  }
  std::printf("%d iterations: %d loaded", iterations, loaded);
  for (const auto& [code, n] : codes) std::printf(", %s=%d", code.c_str(), n);
  std::printf("\n");
  return 0;
}
