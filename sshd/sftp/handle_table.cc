#include "sshd/sftp/handle_table.h"

#include <unistd.h>

#include <cerrno>

#include "sshd/sftp/wire.h"

namespace hatch::sftp {

HandleTable::Slot* HandleTable::FreeSlot(uint32_t* index) {
  if (open_ >= max_handles_) return nullptr;
  // Linear scan: the table is small (max_handles_) and opens are not on the data path.
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].used()) {
      *index = static_cast<uint32_t>(i);
      return &slots_[i];
    }
  }
  *index = static_cast<uint32_t>(slots_.size());
  return &slots_.emplace_back();
}

HandleTable::Handle HandleTable::Encode(uint32_t index) const {
  Handle h(kHandleSize, '\0');
  StoreBigEndian32(reinterpret_cast<uint8_t*>(h.data()), index);
  StoreBigEndian32(reinterpret_cast<uint8_t*>(h.data()) + 4, slots_[index].generation);
  return h;
}

std::optional<HandleTable::Handle> HandleTable::AddFile(OpenFile file) {
  uint32_t index;
  Slot* slot = FreeSlot(&index);
  if (slot == nullptr) return std::nullopt;
  slot->file = std::move(file);
  ++open_;
  return Encode(index);
}

std::optional<HandleTable::Handle> HandleTable::AddDir(OpenDir dir) {
  uint32_t index;
  Slot* slot = FreeSlot(&index);
  if (slot == nullptr) return std::nullopt;
  slot->dir = std::move(dir);
  ++open_;
  return Encode(index);
}

HandleTable::Slot* HandleTable::Find(absl::string_view handle) {
  if (handle.size() != kHandleSize) return nullptr;
  const auto* p = reinterpret_cast<const uint8_t*>(handle.data());
  const uint32_t index = LoadBigEndian32(p);
  if (index >= slots_.size()) return nullptr;
  Slot& slot = slots_[index];
  if (!slot.used() || slot.generation != LoadBigEndian32(p + 4)) return nullptr;
  return &slot;
}

OpenFile* HandleTable::File(absl::string_view handle) {
  Slot* slot = Find(handle);
  return slot != nullptr && slot->file ? &*slot->file : nullptr;
}

OpenDir* HandleTable::Dir(absl::string_view handle) {
  Slot* slot = Find(handle);
  return slot != nullptr && slot->dir ? &*slot->dir : nullptr;
}

int HandleTable::Close(absl::string_view handle) {
  Slot* slot = Find(handle);
  if (slot == nullptr) return EBADF;
  int err = 0;
  if (slot->file) {
    // close(2)'s error matters (e.g. a delayed write error on NFS): report it.
    if (::close(slot->file->fd.release()) != 0) err = errno;
    slot->file.reset();
  } else {
    if (closedir(slot->dir->dir.release()) != 0) err = errno;
    slot->dir.reset();
  }
  ++slot->generation;
  --open_;
  return err;
}

}  // namespace hatch::sftp
