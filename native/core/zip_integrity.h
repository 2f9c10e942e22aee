// CRC-32 check of the small entries of a zip archive (a TorchScript file) before libtorch parses
// it: libtorch's reader does not verify checksums, and its parser dereferences corrupt source
// and debug records (SIGSEGV in Source::findSourceRangeThatGenerated on a two-byte corruption).
#pragma once

#include <string>

namespace aeb {

// Throws EngineError TORCHSCRIPT_INVALID naming the entry when an entry outside the tensor
// storages (".../data/N", ".../constants/N") of up to 64 MiB (code, pickles, debug records)
// fails its CRC-32 or does not inflate,
// or when the central directory points outside the file. Deflated entries are checked when the
// build has zlib (AEB_HAVE_ZLIB; CMake finds it when present), else left to libtorch. A file
// without a zip end record is left to libtorch to refuse.
void check_zip_integrity(const std::string& path);

}  // namespace aeb
