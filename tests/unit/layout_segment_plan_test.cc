// PlanSegments: a commit reads and writes only the segments its changes
// fall in, and the result is always a valid, sorted, disjoint segment list.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "store/layout/segment_plan.h"

namespace ccfs {
namespace {

IndexEntry File(const std::string& path, uint64_t size = 0) {
  IndexEntry e;
  e.path = path;
  e.size = size;
  if (size > 0) e.pack = std::string(64, 'f');
  return e;
}

std::string PathOf(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "d/f%05d", i);
  return buf;
}

// A fake store of segments by name, counting reads.
struct Segments {
  std::map<std::string, std::string> by_name;
  size_t reads = 0;
  SegmentLoader Loader() {
    return [this](const SegmentRef& ref, IndexSegment* out) {
      ++reads;
      auto it = by_name.find(ref.name);
      if (it == by_name.end()) return Status::NotFound(ref.name);
      auto seg = DecodeSegment(it->second);
      if (!seg.ok()) return seg.status();
      *out = std::move(seg).value();
      return Status::OK();
    };
  }
  void Keep(const SegmentPlan& plan) {
    for (const SegmentToWrite& w : plan.written) by_name[w.ref.name] = w.bytes;
  }
  // Every path in the tree the refs describe, in order.
  std::vector<std::string> Paths(const std::vector<SegmentRef>& refs) {
    std::vector<std::string> out;
    for (const SegmentRef& r : refs) {
      auto seg = DecodeSegment(by_name.at(r.name));
      EXPECT_TRUE(seg.ok());
      for (const IndexEntry& e : seg->entries) out.push_back(e.path);
    }
    return out;
  }
};

// A valid root holds the list: DecodeRoot checks order and disjointness.
void ExpectValidList(const std::vector<SegmentRef>& refs) {
  WorkspaceRoot r;
  r.generation = 1;
  r.nonce = std::string(32, '0');
  r.segments = refs;
  Status s = DecodeRoot(EncodeRoot(r)).status();
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(LayoutSegmentPlanTest, OneChangeRewritesOneSegmentOfTen) {
  Segments store;
  std::vector<SegmentChange> all;
  for (int i = 0; i < 1000; ++i) all.push_back({PathOf(i), File(PathOf(i), 10)});
  SegmentPlan first;
  ASSERT_TRUE(PlanSegments({}, all, store.Loader(), 100, &first).ok());
  ASSERT_EQ(first.segments.size(), 10u);
  store.Keep(first);
  ExpectValidList(first.segments);

  SegmentPlan second;
  ASSERT_TRUE(PlanSegments(first.segments, {{PathOf(555), File(PathOf(555), 11)}}, store.Loader(),
                           100, &second)
                  .ok());
  EXPECT_EQ(second.loaded, 1u);
  ASSERT_EQ(second.written.size(), 1u);
  ASSERT_EQ(second.segments.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    if (i == 5) {
      EXPECT_NE(second.segments[i].name, first.segments[i].name);
    } else {
      EXPECT_EQ(second.segments[i].name, first.segments[i].name) << i;
    }
  }
  store.Keep(second);
  EXPECT_EQ(store.Paths(second.segments).size(), 1000u);
}

TEST(LayoutSegmentPlanTest, RandomChangesKeepTheTreeExact) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  Segments store;
  std::set<std::string> model;
  std::vector<SegmentRef> refs;
  int64_t files = 0;
  for (int round = 0; round < 60; ++round) {
    std::map<std::string, std::optional<IndexEntry>> changes;
    int n = 1 + static_cast<int>(rng() % 40);
    for (int k = 0; k < n; ++k) {
      std::string p = PathOf(static_cast<int>(rng() % 3000));
      if (rng() % 3 == 0) {
        changes[p] = std::nullopt;
      } else {
        changes[p] = File(p, 1 + rng() % 100);
      }
    }
    std::vector<SegmentChange> list;
    for (auto& [p, e] : changes) {
      list.push_back({p, e});
      if (e.has_value()) {
        model.insert(p);
      } else {
        model.erase(p);
      }
    }
    std::shuffle(list.begin(), list.end(), rng);
    SegmentPlan plan;
    ASSERT_TRUE(PlanSegments(refs, list, store.Loader(), 50, &plan).ok());
    EXPECT_LE(plan.loaded, changes.size());
    store.Keep(plan);
    refs = plan.segments;
    files += plan.files_delta;
    EXPECT_EQ(files, static_cast<int64_t>(model.size())) << "round " << round;
    ExpectValidList(refs);
    for (const SegmentRef& r : refs) EXPECT_LE(r.entries, 100u);
    std::vector<std::string> got = store.Paths(refs);
    ASSERT_EQ(got, std::vector<std::string>(model.begin(), model.end())) << "round " << round;
  }
}

TEST(LayoutSegmentPlanTest, EmptiedSegmentIsDroppedAndBadInputRefused) {
  Segments store;
  SegmentPlan first;
  ASSERT_TRUE(PlanSegments({},
                           {{"a", File("a")}, {"b", File("b")}, {"c", File("c")}, {"d", File("d")}},
                           store.Loader(), 1, &first)
                  .ok());
  ASSERT_EQ(first.segments.size(), 4u);  // past 2 * target: cut into pieces of the target
  store.Keep(first);
  SegmentPlan second;
  ASSERT_TRUE(PlanSegments(first.segments, {{"a", std::nullopt}, {"b", std::nullopt}},
                           store.Loader(), 1, &second)
                  .ok());
  EXPECT_EQ(second.loaded, 2u);
  EXPECT_TRUE(second.written.empty());
  ASSERT_EQ(second.segments.size(), 2u);
  EXPECT_EQ(second.segments[0].name, first.segments[2].name);
  EXPECT_EQ(second.segments[1].name, first.segments[3].name);

  SegmentPlan bad;
  EXPECT_TRUE(PlanSegments({}, {{"a", File("b")}}, store.Loader(), 10, &bad).IsInvalidArgument());
  EXPECT_TRUE(PlanSegments(first.segments, {{"a", std::nullopt}, {"a", File("a")}}, store.Loader(),
                           10, &bad)
                  .IsInvalidArgument());
  Segments empty;  // a segment that cannot be read fails the plan
  EXPECT_TRUE(
      PlanSegments(first.segments, {{"a", File("a")}}, empty.Loader(), 10, &bad).IsNotFound());
}

}  // namespace
}  // namespace ccfs
