#include "sshd/sftp/wire.h"

#include <algorithm>
#include <cstring>

#include "sshd/sftp/protocol.h"

namespace hatch::sftp {

bool WireReader::Take(size_t n, const uint8_t** field) {
  if (!ok_ || remaining() < n) {
    ok_ = false;
    pos_ = end_;
    return false;
  }
  *field = pos_;
  pos_ += n;
  return true;
}

uint8_t WireReader::U8() {
  const uint8_t* p;
  return Take(1, &p) ? p[0] : 0;
}

uint32_t WireReader::U32() {
  const uint8_t* p;
  return Take(4, &p) ? LoadBigEndian32(p) : 0;
}

uint64_t WireReader::U64() {
  const uint8_t* p;
  if (!Take(8, &p)) return 0;
  return (uint64_t{LoadBigEndian32(p)} << 32) | LoadBigEndian32(p + 4);
}

absl::string_view WireReader::String() {
  const uint32_t n = U32();
  const uint8_t* p;
  if (!Take(n, &p)) return {};
  return absl::string_view(reinterpret_cast<const char*>(p), n);
}

void ReplyWriter::Begin(uint8_t type) {
  start_ = out_->tail();
  limit_ = std::min(max_size_, out_->tail_room());
  size_ = 0;
  trailing_ = 0;
  overflowed_ = false;
  U32(0);  // length, patched by Finish()
  U8(type);
}

uint8_t* ReplyWriter::Reserve(size_t n) {
  if (overflowed_ || room() < n) {
    overflowed_ = true;
    return nullptr;
  }
  uint8_t* p = start_ + size_;
  size_ += n;
  return p;
}

void ReplyWriter::U8(uint8_t v) {
  if (uint8_t* p = Reserve(1)) *p = v;
}

void ReplyWriter::U32(uint32_t v) {
  if (uint8_t* p = Reserve(4)) StoreBigEndian32(p, v);
}

void ReplyWriter::U64(uint64_t v) {
  if (uint8_t* p = Reserve(8)) {
    StoreBigEndian32(p, static_cast<uint32_t>(v >> 32));
    StoreBigEndian32(p + 4, static_cast<uint32_t>(v));
  }
}

void ReplyWriter::String(absl::string_view s) {
  if (s.size() > UINT32_MAX) {
    overflowed_ = true;
    return;
  }
  U32(static_cast<uint32_t>(s.size()));
  uint8_t* p = Reserve(s.size());
  if (p != nullptr && !s.empty()) std::memcpy(p, s.data(), s.size());
}

bool ReplyWriter::Finish() {
  if (overflowed_ || start_ == nullptr) return false;
  StoreBigEndian32(start_, static_cast<uint32_t>(size_ - kLengthFieldSize + trailing_));
  out_->Commit(size_);
  start_ = nullptr;
  return true;
}

}  // namespace hatch::sftp
