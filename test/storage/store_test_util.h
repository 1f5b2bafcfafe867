// Helpers shared by the storage tests: temp dirs, encoders, watch draining.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.h"

namespace csdr::storage::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/csdr-storage-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    }
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// An encoder whose bytes show which revision it was called with: "<body>@<revision>".
inline Encoder Enc(std::string body) {
  return [body = std::move(body)](int64_t rev) { return body + "@" + std::to_string(rev); };
}
inline std::string Val(const std::string& body, int64_t rev) {
  return body + "@" + std::to_string(rev);
}

// Calls Next until `count` events arrived, the watch ended or `deadline` passed.
inline std::vector<Event> Collect(Watcher* w, size_t count,
                                  std::chrono::milliseconds deadline = std::chrono::seconds(10),
                                  bool* ended = nullptr, bool* expired = nullptr) {
  std::vector<Event> out;
  auto until = std::chrono::steady_clock::now() + deadline;
  if (ended != nullptr) *ended = false;
  while (out.size() < count && std::chrono::steady_clock::now() < until) {
    bool exp = false;
    if (!w->Next(std::chrono::milliseconds(100), &out, &exp)) {
      if (ended != nullptr) *ended = true;
      if (expired != nullptr) *expired = exp;
      break;
    }
  }
  return out;
}

// Waits (sleeping, for tests only) until `pred` holds or `deadline` passes.
inline bool WaitFor(const std::function<bool()>& pred,
                    std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

inline const char* TypeName(EventType t) {
  switch (t) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "?";
}

// One line per event, for readable EXPECT_EQ diffs.
inline std::string Describe(const Event& e) {
  return std::to_string(e.revision) + " " + TypeName(e.type) + " " + e.key + " value=" + e.value +
         " prev=" + e.prev_value + " create=" + std::to_string(e.create_revision) +
         " prev_rev=" + std::to_string(e.prev_revision);
}
inline std::vector<std::string> Describe(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(Describe(e));
  return out;
}

}  // namespace csdr::storage::testing
