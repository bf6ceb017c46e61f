#include "services/common/config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

using ::testing::HasSubstr;

ConfigNode MustParse(const std::string& text) {
  auto node = ConfigNode::Parse(text, "test.yaml");
  EXPECT_TRUE(node.ok()) << node.status();
  return *node;
}

TEST(ConfigNodeTest, ReadsTypedValuesAndKeepsDefaultsForAbsentKeys) {
  ConfigNode node = MustParse(
      "name: bridge\ncount: 42\nenabled: yes\nwait: 250ms\nqueues: [a, b]\n");
  std::string name;
  int64_t count = 0;
  bool enabled = false;
  absl::Duration wait;
  std::vector<std::string> queues;
  uint32_t absent = 7;
  ASSERT_TRUE(node.Get("name", &name).ok());
  ASSERT_TRUE(node.Get("count", &count).ok());
  ASSERT_TRUE(node.Get("enabled", &enabled).ok());
  ASSERT_TRUE(node.Get("wait", &wait).ok());
  ASSERT_TRUE(node.Get("queues", &queues).ok());
  ASSERT_TRUE(node.Get("absent", &absent).ok());
  EXPECT_EQ(name, "bridge");
  EXPECT_EQ(count, 42);
  EXPECT_TRUE(enabled);
  EXPECT_EQ(wait, absl::Milliseconds(250));
  EXPECT_THAT(queues, ::testing::ElementsAre("a", "b"));
  EXPECT_EQ(absent, 7u);
  EXPECT_TRUE(node.CheckAllKeysKnown().ok());
}

TEST(ConfigNodeTest, ErrorsNameTheFileAndTheNestedField) {
  ConfigNode node = MustParse("buffer:\n  capacity: lots\n");
  auto buffer = node.Child("buffer");
  ASSERT_TRUE(buffer.ok());
  uint64_t capacity = 0;
  absl::Status s = buffer->Get("capacity", &capacity);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("test.yaml: buffer.capacity: expected an integer, "
                        "got 'lots'"));
}

TEST(ConfigNodeTest, RejectsUnknownKeys) {
  ConfigNode node = MustParse("listen: x\nlisen: y\n");
  std::string listen;
  ASSERT_TRUE(node.Get("listen", &listen).ok());
  absl::Status s = node.CheckAllKeysKnown();
  EXPECT_THAT(std::string(s.message()), HasSubstr("lisen: unknown setting"));
}

TEST(ConfigNodeTest, RejectsNegativeAndOutOfRangeNumbers) {
  ConfigNode node = MustParse("a: -1\nb: 5000000000\nc: -2s\n");
  uint64_t a = 0;
  uint32_t b = 0;
  absl::Duration c;
  EXPECT_THAT(std::string(node.Get("a", &a).message()),
              HasSubstr("must not be negative"));
  EXPECT_THAT(std::string(node.Get("b", &b).message()),
              HasSubstr("must be at most"));
  EXPECT_THAT(std::string(node.Get("c", &c).message()),
              HasSubstr("must not be negative"));
}

TEST(ConfigNodeTest, SyntaxErrorsNameTheLine) {
  auto node = ConfigNode::Parse("a: 1\nb: [unclosed\n", "bad.yaml");
  ASSERT_FALSE(node.ok());
  EXPECT_THAT(std::string(node.status().message()),
              HasSubstr("bad.yaml: line"));
}

TEST(ConfigNodeTest, TopLevelMustBeAMapping) {
  auto node = ConfigNode::Parse("- a\n- b\n", "list.yaml");
  ASSERT_FALSE(node.ok());
  EXPECT_THAT(std::string(node.status().message()),
              HasSubstr("top level must be a mapping"));
}

TEST(ConfigNodeTest, JsonIsAccepted) {
  ConfigNode node = MustParse(R"({"listen": "127.0.0.1:0", "n": 3})");
  std::string listen;
  ASSERT_TRUE(node.Get("listen", &listen).ok());
  EXPECT_EQ(listen, "127.0.0.1:0");
}

TEST(ConfigNodeTest, KeysInFileOrderForNamedSettings) {
  ConfigNode node = MustParse("queues:\n  b: {x: 1}\n  a: {x: 2}\n");
  auto queues = node.Child("queues");
  ASSERT_TRUE(queues.ok());
  EXPECT_THAT(queues->Keys(), testing::ElementsAre("b", "a"));
  auto b = queues->Child("b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->path(), "queues.b");
  EXPECT_FALSE(queues->CheckAllKeysKnown().ok());  // "a" not read yet
  ASSERT_TRUE(queues->Child("a").ok());
  EXPECT_TRUE(queues->CheckAllKeysKnown().ok());
}

TEST(ConfigNodeTest, HasMappingTellsTheFormOfASetting) {
  ConfigNode node = MustParse("a: x\nb: {c: 1}\nd: [1]\ne:\n");
  EXPECT_FALSE(node.HasMapping("a"));
  EXPECT_TRUE(node.HasMapping("b"));
  EXPECT_FALSE(node.HasMapping("d"));
  EXPECT_FALSE(node.HasMapping("e"));
  EXPECT_FALSE(node.HasMapping("absent"));
}

TEST(ConfigNodeTest, MissingFileIsNotFound) {
  auto node = ConfigNode::LoadFile("/nonexistent/switchboard.yaml");
  EXPECT_EQ(node.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace switchboard
