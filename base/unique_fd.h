// UniqueFd: sole owner of one file descriptor; closes it when destroyed or reset.
#ifndef HATCH_BASE_UNIQUE_FD_H_
#define HATCH_BASE_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace hatch {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing; returns the fd (or -1).
  int release() { return std::exchange(fd_, -1); }

  // Closes the owned fd (if any) and takes ownership of `fd`.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace hatch

#endif  // HATCH_BASE_UNIQUE_FD_H_
