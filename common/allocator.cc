#include "common/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace csdr {

std::string TuneAllocator() {
  const char* mode = std::getenv("CSDR_MALLOC");
  if (mode != nullptr && std::strcmp(mode, "default") == 0) {
    return "glibc malloc with its defaults (CSDR_MALLOC=default)";
  }
  for (const char* var :
       {"MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"}) {
    if (std::getenv(var) != nullptr) {
      return std::string("glibc malloc as the environment tunes it (") + var + " is set)";
    }
  }
  constexpr int kArenas = 2;
  constexpr int kThreshold = 128 * 1024;
  const bool ok = mallopt(M_ARENA_MAX, kArenas) == 1 &&
                  mallopt(M_MMAP_THRESHOLD, kThreshold) == 1 &&
                  mallopt(M_TRIM_THRESHOLD, kThreshold) == 1;
  return ok ? "glibc malloc: 2 arenas, mmap and trim thresholds 128 KiB"
            : "glibc malloc: mallopt refused the tuning; defaults in use";
}

}  // namespace csdr
