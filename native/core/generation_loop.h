// The generation loop over a StepModel: option validation, timing stamps, sampling, stop ids,
// min/max token budgets and cancellation, with the semantics documented in engine.h.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "engine.h"
#include "step_model.h"

namespace aeb {

// Throws EngineError INVALID_ARGUMENT for bad options (empty prompt, id outside the vocabulary,
// prompt + max_new_tokens - 1 > max_seq_len, ...) before any device work, and
// TORCH_ERROR (message without backtrace) when libtorch fails mid-generation.
GenerationResult run_generation(StepModel& model, const GenerateOptions& options,
                                const std::function<void(const TokenEvent&)>& on_token,
                                const std::atomic<bool>& cancel);

// Adapts a StepModel to engine.h's Model interface.
class StepModelAdapter final : public Model {
 public:
  explicit StepModelAdapter(std::unique_ptr<StepModel> model) : model_(std::move(model)) {}
  const ModelInfo& info() const override { return model_->info(); }
  GenerationResult generate(const GenerateOptions& options, const std::function<void(const TokenEvent&)>& on_token,
                            const std::atomic<bool>& cancel) override {
    return run_generation(*model_, options, on_token, cancel);
  }

 private:
  std::unique_ptr<StepModel> model_;
};

}  // namespace aeb
