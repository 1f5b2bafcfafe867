// WatchHub on its own: prefix matching, preload hand-over, warming, bounds.
#include "storage/watch_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test/storage/store_test_util.h"

namespace csdr::storage {
namespace {

using namespace std::chrono_literals;
using testing::Collect;

Event Ev(int64_t rev, std::string key, std::string value = "v") {
  Event e;
  e.type = EventType::kAdded;
  e.key = std::move(key);
  e.value = std::move(value);
  e.revision = rev;
  e.create_revision = rev;
  return e;
}

std::vector<int64_t> Revisions(const std::vector<Event>& events) {
  std::vector<int64_t> out;
  for (const auto& e : events) out.push_back(e.revision);
  return out;
}

std::unique_ptr<Watcher> MustWatch(WatchHub& hub, const std::string& prefix, int64_t after) {
  auto w = hub.Watch(prefix, after);
  EXPECT_TRUE(w.ok()) << w.status().message();
  return w.ok() ? std::move(w.value()) : nullptr;
}

TEST(WatchHubTest, MatchesEveryRegisteredPrefixOfAKey) {
  auto hub = WatchHub::Make(WatchHub::Options{}, 0);
  struct Case {
    std::string prefix;
    std::vector<int64_t> revisions;
  };
  const std::vector<Case> cases = {
      {"", {1, 2, 3, 4, 5}}, {"/a", {1, 2, 3, 4}}, {"/a/", {1, 2, 3}}, {"/a/b", {2, 3}},
      {"/a/bc", {3}},        {"/b", {5}},          {"/a/b/c/d/e", {}},
  };
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (const auto& c : cases) watchers.push_back(MustWatch(*hub, c.prefix, 0));
  std::vector<Event> batch = {Ev(1, "/a/x"), Ev(2, "/a/b"), Ev(3, "/a/bc"), Ev(4, "/ab"),
                              Ev(5, "/b")};
  hub->Publish(batch);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("prefix \"" + cases[i].prefix + "\"");
    std::vector<Event> got;
    ASSERT_TRUE(watchers[i]->Next(10ms, &got, nullptr));
    EXPECT_EQ(Revisions(got), cases[i].revisions);
    EXPECT_EQ(watchers[i]->ProgressRevision(), 5);
  }
}

// Every watcher of a write gets the one event the history holds (no copy), so that what one
// of them encodes the others reuse; the history drops those encodings once 64 newer events
// follow.
TEST(WatchHubTest, WatchersShareEventsAndTheirEncodings) {
  auto hub = WatchHub::Make(WatchHub::Options{}, 0);
  auto a = MustWatch(*hub, "/a/", 0);
  auto b = MustWatch(*hub, "/a/", 0);
  hub->Publish({Ev(1, "/a/x", "{}")});
  std::vector<EventPtr> got_a, got_b;
  ASSERT_TRUE(a->NextShared(10ms, &got_a, nullptr));
  ASSERT_TRUE(b->NextShared(10ms, &got_b, nullptr));
  ASSERT_EQ(got_a.size(), 1u);
  ASSERT_EQ(got_b.size(), 1u);
  EXPECT_EQ(got_a[0].get(), got_b[0].get());

  // Concurrent readers of one key: one encodes, all get its bytes.
  std::atomic<int> made{0};
  std::vector<std::shared_ptr<const std::string>> bytes(8);
  std::vector<std::thread> readers;
  for (size_t i = 0; i < bytes.size(); ++i) {
    readers.emplace_back([&, i] {
      bytes[i] = got_a[0]->encodings.GetOrMake("ADDED json", [&] {
        made.fetch_add(1);
        std::this_thread::sleep_for(5ms);
        return std::string("line");
      });
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(made.load(), 1);
  for (const auto& p : bytes) EXPECT_EQ(p.get(), bytes[0].get());
  EXPECT_EQ(*got_b[0]->encodings.GetOrMake("ADDED json", [] { return std::string("other"); }),
            "line");
  EXPECT_EQ(*got_b[0]->encodings.GetOrMake("ADDED table", [] { return std::string("row"); }),
            "row");
  EXPECT_EQ(got_a[0]->encodings.size(), 2u);
  // A copy of the event (Next) starts without them.
  Event copy = *got_a[0];
  EXPECT_EQ(copy.encodings.size(), 0u);

  // 63 newer events keep them; the 64th drops them.
  for (int64_t r = 2; r <= 64; ++r) hub->Publish({Ev(r, "/b/" + std::to_string(r))});
  EXPECT_EQ(got_a[0]->encodings.size(), 2u);
  hub->Publish({Ev(65, "/b/65")});
  EXPECT_EQ(got_a[0]->encodings.size(), 0u);
}

TEST(WatchHubTest, PreloadHandsOverWithoutDuplicates) {
  auto hub = WatchHub::Make(WatchHub::Options{}, 0);
  hub->Publish({Ev(1, "/p/1"), Ev(2, "/p/2"), Ev(3, "/p/3"), Ev(4, "/p/4"), Ev(5, "/p/5")});
  // The caller read revisions 3..7 from elsewhere (its log is ahead of the hub).
  std::vector<Event> preload = {Ev(3, "/p/3"), Ev(4, "/p/4"), Ev(5, "/q/5"), Ev(6, "/p/6"),
                                Ev(7, "/p/7")};
  auto w = hub->WatchWithPreload("/p/", 2, preload, 7);
  ASSERT_TRUE(w.ok()) << w.status().message();
  hub->Publish({Ev(6, "/p/6"), Ev(7, "/p/7"), Ev(8, "/p/8")});
  auto got = Collect(w->get(), 5, 1s);
  EXPECT_EQ(Revisions(got), (std::vector<int64_t>{3, 4, 6, 7, 8}));
  std::vector<Event> extra;
  EXPECT_TRUE((*w)->Next(10ms, &extra, nullptr));
  EXPECT_TRUE(extra.empty());
}

TEST(WatchHubTest, PreloadThatNoLongerMeetsTheHistoryIsExpired) {
  WatchHub::Options o;
  o.history_events = 2;
  auto hub = WatchHub::Make(o, 0);
  for (int i = 1; i <= 10; ++i) hub->Publish({Ev(i, "/p/" + std::to_string(i))});
  EXPECT_EQ(hub->StartRevision(), 8);
  auto w = hub->WatchWithPreload("/p/", 2, {Ev(3, "/p/3")}, 5);
  EXPECT_EQ(w.status().code(), Code::kExpired);
  EXPECT_TRUE(hub->WatchWithPreload("/p/", 2, {}, 8).ok());
}

TEST(WatchHubTest, WarmSeedsTheHistory) {
  auto hub = WatchHub::Make(WatchHub::Options{}, 0);
  hub->Warm(10, {Ev(11, "/w/a"), Ev(12, "/w/b"), Ev(13, "/x/c")});
  EXPECT_EQ(hub->StartRevision(), 10);
  EXPECT_EQ(hub->LastRevision(), 13);
  EXPECT_EQ(hub->Watch("/w/", 9).status().code(), Code::kExpired);
  auto w = MustWatch(*hub, "/w/", 10);
  EXPECT_EQ(Revisions(Collect(w.get(), 2, 1s)), (std::vector<int64_t>{11, 12}));
  auto from_now = MustWatch(*hub, "/w/", 0);
  EXPECT_EQ(from_now->ProgressRevision(), 13);
}

TEST(WatchHubTest, HistoryIsBoundedByBytes) {
  WatchHub::Options o;
  o.history_events = 100;
  o.history_bytes = 10 * 1024;
  auto hub = WatchHub::Make(o, 0);
  for (int i = 1; i <= 50; ++i) {
    hub->Publish({Ev(i, "/b/" + std::to_string(i), std::string(1000, 'x'))});
  }
  EXPECT_LE(hub->history_size(), 10u);
  EXPECT_GE(hub->history_size(), 5u);
  EXPECT_EQ(hub->StartRevision(), 50 - static_cast<int64_t>(hub->history_size()));
  std::vector<std::shared_ptr<const Event>> out;
  EXPECT_EQ(hub->EventsAfter(1, "/b/", &out).code(), Code::kExpired);
  EXPECT_TRUE(hub->EventsAfter(hub->StartRevision(), "/b/", &out).ok());
  EXPECT_EQ(out.size(), hub->history_size());
}

TEST(WatchHubTest, HistoryIsBoundedByEvents) {
  WatchHub::Options o;
  o.history_events = 100;
  auto hub = WatchHub::Make(o, 0);
  for (int i = 1; i <= 300; ++i) hub->Publish({Ev(i, "/b/" + std::to_string(i))});
  EXPECT_EQ(hub->history_size(), 100u);
  EXPECT_EQ(hub->StartRevision(), 200);
  EXPECT_EQ(hub->Watch("/b/", 199).status().code(), Code::kExpired);
  auto w = MustWatch(*hub, "/b/", 200);
  EXPECT_EQ(Collect(w.get(), 100, 1s).size(), 100u);
}

TEST(WatchHubTest, EventsAfterFiltersByPrefix) {
  auto hub = WatchHub::Make(WatchHub::Options{}, 0);
  hub->Publish({Ev(1, "/a/1"), Ev(2, "/b/1"), Ev(3, "/a/2")});
  std::vector<std::shared_ptr<const Event>> out;
  ASSERT_TRUE(hub->EventsAfter(1, "/a/", &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->revision, 3);
}

TEST(WatchHubTest, PublishIgnoresWatchersOfOtherPrefixes) {
  // 20,000 watchers that match nothing must not make publishing scan them: a per-watcher
  // scan is 4e8 prefix checks here (seconds); prefix lookup is milliseconds.
  auto hub = WatchHub::Make(WatchHub::Options{}, 0);
  std::vector<std::unique_ptr<Watcher>> idle;
  for (int i = 0; i < 20000; ++i)
    idle.push_back(MustWatch(*hub, "/n/" + std::to_string(i) + "/", 0));
  auto interested = MustWatch(*hub, "/hot/", 0);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= 20000; ++i) {
    hub->Publish({Ev(i, "/hot/" + std::to_string(i % 100))});
    if (i % 1000 == 0) {
      std::vector<Event> drained;
      ASSERT_TRUE(interested->Next(0ms, &drained, nullptr));
      ASSERT_EQ(drained.size(), 1000u);
    }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(hub->watcher_count(), 20001u);
}

TEST(WatchHubTest, OverflowEndsTheWatcherAndFreesItsSlot) {
  WatchHub::Options o;
  o.watcher_queue_limit = 3;
  auto hub = WatchHub::Make(o, 0);
  auto w = MustWatch(*hub, "/o/", 0);
  for (int i = 1; i <= 3; ++i) hub->Publish({Ev(i, "/o/x")});
  EXPECT_EQ(hub->watcher_count(), 1u);
  hub->Publish({Ev(4, "/o/x")});
  EXPECT_EQ(hub->watcher_count(), 0u);
  EXPECT_EQ(hub->expired_watcher_count(), 1);
  std::vector<Event> out;
  bool expired = false;
  EXPECT_FALSE(w->Next(10ms, &out, &expired));
  EXPECT_TRUE(expired);
}

TEST(WatchHubTest, ReplayIsNotCountedAgainstTheQueueLimitUntilDrained) {
  WatchHub::Options o;
  o.watcher_queue_limit = 3;
  auto hub = WatchHub::Make(o, 0);
  for (int i = 1; i <= 10; ++i) hub->Publish({Ev(i, "/r/x")});
  auto w = MustWatch(*hub, "/r/", 0 + 1);  // replays 9 events, above the limit of 3
  hub->Publish({Ev(11, "/r/x")});
  hub->Publish({Ev(12, "/r/x")});
  std::vector<Event> out;
  ASSERT_TRUE(w->Next(10ms, &out, nullptr));
  EXPECT_EQ(out.size(), 11u);
  // From now on the limit applies.
  for (int i = 13; i <= 16; ++i) hub->Publish({Ev(i, "/r/x")});
  bool expired = false;
  EXPECT_FALSE(w->Next(10ms, &out, &expired));
  EXPECT_TRUE(expired);
}

// A watcher that does not read is ended once its oldest waiting event leaves the history,
// even below the queue limit: it would otherwise keep alive what the history let go. One
// that reads along is not.
TEST(WatchHubTest, AWatcherBehindTheHistoryIsEnded) {
  WatchHub::Options o;
  o.history_events = 4;
  o.watcher_queue_limit = 100;
  auto hub = WatchHub::Make(o, 0);
  auto slow = MustWatch(*hub, "/s/", 0);
  auto reading = MustWatch(*hub, "/s/", 0);
  std::vector<Event> out;
  for (int i = 1; i <= 4; ++i) {
    hub->Publish({Ev(i, "/s/x")});
    ASSERT_TRUE(reading->Next(0ms, &out, nullptr));
  }
  EXPECT_EQ(hub->watcher_count(), 2u);
  hub->Publish({Ev(5, "/s/x")});  // event 1 leaves the history: slow's oldest
  ASSERT_TRUE(reading->Next(0ms, &out, nullptr));
  EXPECT_EQ(out.size(), 5u);
  EXPECT_EQ(hub->watcher_count(), 1u);
  bool expired = false;
  EXPECT_FALSE(slow->Next(0ms, &out, &expired));
  EXPECT_TRUE(expired);
  EXPECT_EQ(hub->expired_watcher_count(), 1);
}

TEST(WatchHubTest, WatcherOutlivingItsHubJustEnds) {
  std::unique_ptr<Watcher> w;
  {
    auto hub = WatchHub::Make(WatchHub::Options{}, 0);
    w = MustWatch(*hub, "/", 0);
    hub->Close();
  }
  std::vector<Event> out;
  bool expired = true;
  EXPECT_FALSE(w->Next(10ms, &out, &expired));
  EXPECT_FALSE(expired);
  w->Stop();
}

}  // namespace
}  // namespace csdr::storage
