// How the process allocates: glibc's malloc, tuned at start-up.
//
// Measured in the benchmark (test/bench/run.py, part "allocators"; docs/benchmarks.md) with
// the sequence users meet: 10,000 creates by 64 clients, 40 lists of 10,000, 1,000 watches.
// glibc's defaults keep what worker threads free: up to 8 arenas per core, each keeping its
// freed chunks, and a mmap threshold that grows to the largest block freed so far (up to
// 32 MiB), so that after one 7 MiB list body every later one comes from an arena and stays
// there. RSS after the lists was 450-480 MiB against 45-80 MiB tuned. jemalloc and mimalloc
// (Debian's, preloaded) keep a cache per thread: with a thread per watch that cost 300 and
// 820 MiB with 1,000 watches open, against 180 for glibc tuned.
//
// TuneAllocator() sets, through mallopt:
//   M_ARENA_MAX 2          two arenas whatever the core count (the event loops and the
//                          workers contend little: a request allocates in short bursts);
//   M_MMAP_THRESHOLD 128K  fixed (which also turns off its growth): blocks of 128 KiB and
//                          more (list bodies, large objects, page buffers) are mapped and
//                          unmapped, so they return to the system when freed;
//   M_TRIM_THRESHOLD 128K  an arena's free top beyond 128 KiB is given back.
// It changes nothing when the environment already tunes malloc (MALLOC_ARENA_MAX,
// MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES: the operator's choice wins)
// or when CSDR_MALLOC=default (glibc's defaults, for the benchmark's comparison).
#pragma once

#include <string>

namespace csdr {

// Call first in main, before any thread starts. Returns what was done, for the log.
std::string TuneAllocator();

}  // namespace csdr
