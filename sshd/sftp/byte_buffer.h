// ByteBuffer: a fixed-capacity contiguous byte queue, allocated once. Bytes are appended at
// the tail (directly by read(2)/pread(2) into tail(), then Commit) and consumed from the
// head; Compact() moves the pending bytes to the front so the tail has room again.
// Used for the SFTP input and output queues so the data path never allocates.
#ifndef HATCH_SSHD_SFTP_BYTE_BUFFER_H_
#define HATCH_SSHD_SFTP_BYTE_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace hatch::sftp {

class ByteBuffer {
 public:
  // The memory is not zeroed, so untouched pages never become resident.
  explicit ByteBuffer(size_t capacity)
      : storage_(new uint8_t[capacity]), capacity_(capacity) {}
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  // Pending bytes: [data(), data() + size()).
  const uint8_t* data() const { return storage_.get() + head_; }
  uint8_t* data() { return storage_.get() + head_; }
  size_t size() const { return tail_ - head_; }
  bool empty() const { return head_ == tail_; }
  size_t capacity() const { return capacity_; }

  // Free space after the pending bytes, without compacting.
  uint8_t* tail() { return storage_.get() + tail_; }
  size_t tail_room() const { return capacity_ - tail_; }

  // Marks `n` bytes written at tail() as pending (n <= tail_room()).
  void Commit(size_t n) { tail_ += n; }
  // Drops `n` bytes written at the tail since the last Commit point (rollback).
  void Uncommit(size_t n) { tail_ -= n; }
  // Drops `n` pending bytes from the head (n <= size()).
  void Consume(size_t n) {
    head_ += n;
    if (head_ == tail_) head_ = tail_ = 0;  // cheap reset keeps the tail room large
  }

  // Makes tail_room() >= n by moving the pending bytes to the front if needed; false when
  // even that cannot give `n` bytes.
  bool EnsureTailRoom(size_t n) {
    if (tail_room() >= n) return true;
    if (capacity_ - size() < n) return false;
    std::memmove(storage_.get(), data(), size());
    tail_ -= head_;
    head_ = 0;
    return true;
  }

 private:
  std::unique_ptr<uint8_t[]> storage_;
  size_t capacity_;
  size_t head_ = 0;
  size_t tail_ = 0;
};

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_BYTE_BUFFER_H_
