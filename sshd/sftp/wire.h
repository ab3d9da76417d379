// The SFTP wire encoding (draft-ietf-secsh-filexfer-02 section 3, RFC 4251 section 5):
// big-endian uint32/uint64 and length-prefixed strings.
//  - WireReader parses one received packet in place; strings are views into the packet.
//  - ReplyWriter builds one reply packet directly in the output ByteBuffer's free space,
//    so a READ reply's data can be pread(2) straight into place.
#ifndef HATCH_SSHD_SFTP_WIRE_H_
#define HATCH_SSHD_SFTP_WIRE_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "sshd/sftp/byte_buffer.h"

namespace hatch::sftp {

inline uint32_t LoadBigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void StoreBigEndian32(uint8_t* p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

// Reads fields from a byte range it does not own (the range must outlive the reader and
// every view it returned). A read past the end yields zero/empty and makes ok() false for
// good, so a handler parses all its fields, then checks ok() once.
class WireReader {
 public:
  WireReader(const uint8_t* data, size_t size) : pos_(data), end_(data + size) {}

  uint8_t U8();
  uint32_t U32();
  uint64_t U64();
  absl::string_view String();

  bool ok() const { return ok_; }
  size_t remaining() const { return end_ - pos_; }

 private:
  bool Take(size_t n, const uint8_t** field);

  const uint8_t* pos_;
  const uint8_t* end_;
  bool ok_ = true;
};

// Writes one reply packet (uint32 length, byte type, fields) into `out`'s tail room,
// limited to `max_size` bytes in all. Nothing is visible in `out` until Finish(). A field
// that does not fit marks the reply overflowed; Finish() then drops it and returns false.
// `out` must outlive the writer; one writer builds one reply at a time.
class ReplyWriter {
 public:
  ReplyWriter(ByteBuffer* out, size_t max_size) : out_(out), max_size_(max_size) {}
  ReplyWriter(const ReplyWriter&) = delete;
  ReplyWriter& operator=(const ReplyWriter&) = delete;

  // Starts a reply: reserves the length field and writes the type.
  void Begin(uint8_t type);
  void U8(uint8_t v);
  void U32(uint32_t v);
  void U64(uint64_t v);
  void String(absl::string_view s);

  // Space for `n` raw bytes to be filled by the caller (e.g. by pread); nullptr if they do
  // not fit. Unreserve(k) gives back the last k of them.
  uint8_t* Reserve(size_t n);
  void Unreserve(size_t n) { size_ -= n; }

  // Bytes written so far in this reply, and a way back to an earlier point (to drop a
  // directory entry that would not fit).
  size_t Mark() const { return size_; }
  void RewindTo(size_t mark) {
    size_ = mark;
    overflowed_ = false;
  }
  size_t room() const { return limit_ - size_; }
  bool overflowed() const { return overflowed_; }

  // Declares `n` more bytes of this reply that are not in `out` but follow it on the wire
  // (READ data moved by a ReadStage): Finish() counts them in the packet's length.
  void Trailing(size_t n) { trailing_ = n; }

  // Patches a uint32 written earlier at `mark` (e.g. a count known only at the end).
  void PatchU32(size_t mark, uint32_t v) { StoreBigEndian32(start_ + mark, v); }

  // Completes the packet and makes it pending in `out`; false (and nothing added) if it
  // overflowed.
  bool Finish();

 private:
  ByteBuffer* out_;
  size_t max_size_;
  uint8_t* start_ = nullptr;
  size_t limit_ = 0;
  size_t size_ = 0;
  size_t trailing_ = 0;
  bool overflowed_ = false;
};

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_WIRE_H_
