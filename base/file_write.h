// How much of a file one write(2) or pwrite(2) of the sftp and scp built-ins gives the
// kernel at a time (issue 15).
//
// On this bench VM the kernel's cost of a large buffered write is erratic: writing 1 GiB to a
// new ext4 file took 0.14-1.38 s of CPU in 256 KiB writes, 0.18-0.61 in 64 KiB ones and a
// steady 0.23-0.30 in 32 KiB ones (16 KiB: 0.42-0.62, more system calls); an scp upload
// through hatch cost 2.0-2.2 s/GiB with 256 KiB writes and 0.90-1.12 with 32 KiB ones, in
// the state a few GiB of fresh files leave (bench/README.md, "CPU per byte"). The cost sits
// in the copy into the page cache. Probably the folios: a write asks for folios as large as
// itself (ext4 uses large folios); up to order 3 (32 KiB, PAGE_ALLOC_COSTLY_ORDER) they come
// from the per-CPU free lists, pages freed a moment ago, larger ones from the buddy
// allocator's blocks, which this VM hands back to its host (free page reporting of 8 MiB
// blocks), so that the first touch faults them back in. The built-ins still read and queue
// in large pieces; only the hand-over to the file is cut.
#ifndef HATCH_BASE_FILE_WRITE_H_
#define HATCH_BASE_FILE_WRITE_H_

#include <cstddef>

namespace hatch {

inline constexpr size_t kFileWriteChunk = 32 * 1024;

}  // namespace hatch

#endif  // HATCH_BASE_FILE_WRITE_H_
