#include "sshd/memory.h"

#include <malloc.h>
#include <sys/mman.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace hatch {
namespace {

struct Mapping {
  unsigned long start = 0, end = 0;
  bool droppable = false;  // read-only, file-backed, no private (copied-on-write) page
};

void Drop(const Mapping& m) {
  if (m.droppable) madvise(reinterpret_cast<void*>(m.start), m.end - m.start, MADV_DONTNEED);
}

}  // namespace

void ReleaseUnusedCodePages() {
  // /proc/self/smaps: a header line per mapping, then "Name: value kB" lines. A read-only
  // mapping with anonymous pages is RELRO (relocated, then made read-only): its private
  // copies would be lost, so it stays.
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  Mapping current;
  while (std::getline(smaps, line)) {
    unsigned long start = 0, end = 0, inode = 0;
    char perms[5] = {};
    char path[256] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %4s %*x %*x:%*x %lu %255s", &start, &end, perms,
                    &inode, path) >= 4) {
      Drop(current);
      const std::string p = perms;
      current = {start, end, (p == "r-xp" || p == "r--p") && inode != 0 && path[0] == '/'};
      continue;
    }
    unsigned long kib = 0;
    if (std::sscanf(line.c_str(), "Anonymous: %lu", &kib) == 1 && kib != 0) {
      current.droppable = false;
    }
  }
  Drop(current);
  malloc_trim(0);
}

}  // namespace hatch
