// Giving back memory a process touched once and will not need again (docs/ARCHITECTURE.md,
// "Idle memory" and "Memory during transfers").
#ifndef HATCH_SSHD_MEMORY_H_
#define HATCH_SSHD_MEMORY_H_

namespace hatch {

// Drops this process's read-only file-backed page mappings (program text and constants,
// MADV_DONTNEED) and trims the malloc heap. Those pages hold no private changes: they stay
// in the page cache, shared, and whatever runs later faults back in from there, so RSS
// becomes what the process really runs from now on. Call it after a phase whose code will not run again (start-up, key
// exchange and authentication).
void ReleaseUnusedCodePages();

}  // namespace hatch

#endif  // HATCH_SSHD_MEMORY_H_
