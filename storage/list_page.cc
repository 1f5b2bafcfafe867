#include "storage/list_page.h"

#include <algorithm>

namespace csdr::storage::internal {

std::optional<std::string> PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  // Drop trailing 0xff bytes (nothing sorts "just after" them at that length), then bump
  // the last remaining byte: the etcd clientv3.GetPrefixRangeEnd rule.
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::nullopt;
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

std::string ListLowerBound(std::string_view prefix, std::string_view start_after) {
  if (start_after.empty()) return std::string(prefix);
  // start_after + "\0" is the first key sorting strictly after start_after.
  std::string after(start_after);
  after.push_back('\0');
  return std::string(std::max(std::string_view(after), prefix));
}

void SnapshotOverlay::Undo(const Event& e) {
  if (e.type == EventType::kAdded) {
    state_[e.key] = std::nullopt;
    return;
  }
  KeyValue before;
  before.key = e.key;
  before.value = e.prev_value;
  before.create_revision = e.create_revision;
  before.mod_revision = e.prev_revision;
  state_[e.key] = std::move(before);
}

}  // namespace csdr::storage::internal
