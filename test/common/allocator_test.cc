// TuneAllocator: glibc's mmap threshold stays at 128 KiB after a large block is freed (by
// default it grows to the block's size, and later large blocks stay in the arenas), and the
// environment's own tuning is left alone. Each TEST runs in its own process (ctest runs one
// test per process), so each starts with glibc's defaults.
#include "common/allocator.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <stdlib.h>

#include <cstring>

namespace csdr {
namespace {

// Keeps the compiler from eliding a malloc/free pair whose memory is never read.
void Escape(void* p) { asm volatile("" : : "r"(p) : "memory"); }

// Whether a 1 MiB block allocated after an 8 MiB one was freed is mapped on its own
// (returned to the system when freed) rather than carved from an arena.
bool LargeBlockIsMappedAfterALargerOneWasFreed() {
  void* big = malloc(8u << 20);
  std::memset(big, 1, 8u << 20);
  Escape(big);
  free(big);  // by default: the mmap threshold rises to 8 MiB here
  const size_t before = mallinfo2().hblks;
  void* block = malloc(1u << 20);
  std::memset(block, 1, 1u << 20);
  Escape(block);
  const bool mapped = mallinfo2().hblks == before + 1;
  free(block);
  return mapped;
}

#if defined(__SANITIZE_ADDRESS__)
#define CSDR_FOREIGN_MALLOC 1  // the sanitizer's allocator replaces glibc's
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CSDR_FOREIGN_MALLOC 1
#endif
#endif

TEST(AllocatorTest, TunedLargeBlocksAreMappedAndReturned) {
#ifdef CSDR_FOREIGN_MALLOC
  GTEST_SKIP() << "built with a sanitizer: its allocator is not glibc's";
#endif
  unsetenv("CSDR_MALLOC");
  unsetenv("MALLOC_ARENA_MAX");
  unsetenv("MALLOC_MMAP_THRESHOLD_");
  unsetenv("MALLOC_TRIM_THRESHOLD_");
  unsetenv("GLIBC_TUNABLES");
  EXPECT_EQ(TuneAllocator(), "glibc malloc: 2 arenas, mmap and trim thresholds 128 KiB");
  EXPECT_TRUE(LargeBlockIsMappedAfterALargerOneWasFreed());
}

TEST(AllocatorTest, DefaultsKeepGlibcsGrowingThreshold) {
#ifdef CSDR_FOREIGN_MALLOC
  GTEST_SKIP() << "built with a sanitizer: its allocator is not glibc's";
#endif
  setenv("CSDR_MALLOC", "default", 1);
  EXPECT_EQ(TuneAllocator(), "glibc malloc with its defaults (CSDR_MALLOC=default)");
  // What the tuning is for: untuned, the freed 8 MiB raised the threshold past 1 MiB.
  EXPECT_FALSE(LargeBlockIsMappedAfterALargerOneWasFreed());
}

TEST(AllocatorTest, TheEnvironmentsTuningWins) {
  unsetenv("CSDR_MALLOC");
  setenv("MALLOC_ARENA_MAX", "4", 1);
  EXPECT_EQ(TuneAllocator(), "glibc malloc as the environment tunes it (MALLOC_ARENA_MAX is set)");
}

}  // namespace
}  // namespace csdr
