// Reader for IDX files (the MNIST / Fashion-MNIST container): a big-endian header with a
// magic number (0x00 0x00 type rank) and `rank` 32-bit dimensions, then the raw elements.
// Files may be gzip-compressed (.gz) or plain; zlib reads both transparently.
#pragma once

#include <string>

#include "runtime/tensor.h"

namespace attncamp::data {

// Reads an IDX file of unsigned bytes (element type 0x08) into a u8 CPU tensor whose shape is
// the IDX dimensions (e.g. [60000, 28, 28] for images, [60000] for labels). Throws one line
// naming the file when it is missing, has a bad magic number or another element type, is
// truncated, or has trailing bytes.
Tensor read_idx(const std::string& path);

}  // namespace attncamp::data
