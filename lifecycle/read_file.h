// Reads a whole (small) file, with errors that name the path and the cause as Go's os.ReadFile
// does ("open /x: No such file or directory", "read /x: Is a directory").
#ifndef HATCH_LIFECYCLE_READ_FILE_H_
#define HATCH_LIFECYCLE_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace hatch::lifecycle {

// kNotFound when the file does not exist; kResourceExhausted past max_size bytes.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path, size_t max_size = 16 << 20);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_READ_FILE_H_
