#include "base/pipe_size.h"

#include <fcntl.h>
#include <sys/stat.h>

namespace hatch {

bool GrowPipe(int fd, int size) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) return false;
  const int current = fcntl(fd, F_GETPIPE_SZ);
  return current >= 0 && current < size && fcntl(fd, F_SETPIPE_SZ, size) > current;
}

}  // namespace hatch
