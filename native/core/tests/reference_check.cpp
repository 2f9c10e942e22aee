// Checks greedy generation against llama2.c reference outputs (fixtures/stories260K).
//   reference_check MODEL_DIR reference.json [f32|bf16|f16] [threads] [device]
// Prints per case: matching leading ids vs compare_first, max |logit - reference|.
// Exit status 1 when an f32 run misses compare_first or exceeds 1e-3.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine.h"
#include "json.h"
#include "model_config.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR reference.json [f32|bf16] [threads]\n", argv[0]);
    return 2;
  }
  const std::string dtype = argc > 3 ? argv[3] : "f32";
  try {
    aeb::json::Value ref = aeb::json::parse(aeb::read_text_file(argv[2]));
    aeb::LoadOptions lo;
    lo.path = argv[1];
    lo.dtype = dtype;
    lo.threads = argc > 4 ? std::atoi(argv[4]) : 1;
    if (argc > 5) lo.device = argv[5];
    auto model = aeb::load_model(lo);
    std::printf("device=%s dtype=%s threads=%d\n", model->info().device.c_str(), model->info().dtype.c_str(), model->info().threads);
    bool ok = true;
    int case_no = 0;
    for (const auto& c : ref.find("cases")->items()) {
      aeb::GenerateOptions go;
      for (const auto& id : c.find("prompt_ids")->items()) go.prompt_ids.push_back(id.as_int());
      go.max_new_tokens = c.find("max_new_tokens")->as_int();
      go.use_default_stop_ids = false;
      go.stop_ids = {1};
      go.return_first_logits = true;
      std::atomic<bool> cancel{false};
      int64_t events = 0;
      auto r = model->generate(go, [&](const aeb::TokenEvent& e) { events += (e.index == events) ? 1 : 1000; }, cancel);
      std::vector<int64_t> expected;
      for (const auto& id : c.find("generated_ids")->items()) expected.push_back(id.as_int());
      const int64_t compare_first = c.find("compare_first")->as_int();
      int64_t match = 0;
      while (match < static_cast<int64_t>(std::min(expected.size(), r.ids.size())) && r.ids[match] == expected[match]) ++match;
      double max_err = 0;
      const auto& logits = c.find("first_step_logits")->items();
      for (size_t i = 0; i < logits.size(); ++i)
        max_err = std::max(max_err, std::fabs(logits[i].as_double() - r.first_logits[i]));
      const bool pass = match >= compare_first && max_err <= 1e-3 && events == static_cast<int64_t>(r.ids.size());
      if (dtype == "f32" && !pass) ok = false;
      const double decode_s = r.token_ns.size() > 1 ? (r.end_ns - r.token_ns[0]) / 1e9 : 0;
      std::printf("case %d prompt=%zu generated=%zu matching=%lld/%lld(compare_first) of %zu max|dlogit|=%.3g stop=%s "
                  "prefill=%.3fms decode=%.1f tok/s %s\n",
                  case_no++, go.prompt_ids.size(), r.ids.size(), static_cast<long long>(match),
                  static_cast<long long>(compare_first), expected.size(), max_err, r.stop_reason.c_str(),
                  (r.prefill_done_ns - r.start_ns) / 1e6, decode_s > 0 ? (r.ids.size() - 1) / decode_s : 0.0,
                  pass ? "PASS" : "FAIL");
    }
    return ok ? 0 : 1;
  } catch (const aeb::EngineError& e) {
    std::fprintf(stderr, "EngineError %s: %s\n", e.code().c_str(), e.what());
    return 1;
  }
}
