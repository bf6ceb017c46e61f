#include "services/common/queue_name.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

TEST(QueueNameTest, PlainTextKeepsItsReadableName) {
  EXPECT_EQ(QueueNameFor("app.", "kytos/topology"), "app.kytos.topology");
  EXPECT_EQ(QueueNameFor("link.", "s1:eth1-s2:eth1"), "link.s1:eth1-s2:eth1");
  EXPECT_EQ(QueueNameFor("app.", "of_core-2"), "app.of_core-2");
}

// Reproduced: "kytos/topology" and "kytos.topology" shared one queue.
TEST(QueueNameTest, TextsThatLookAlikeNeverShareAQueue) {
  const std::string slash = QueueNameFor("app.", "kytos/topology");
  const std::string dot = QueueNameFor("app.", "kytos.topology");
  EXPECT_NE(slash, dot);
  EXPECT_EQ(dot.rfind("app.kytos.topology:", 0), 0u) << dot;
  // A plain text that ends like a hashed name is hashed itself.
  const std::string lookalike = dot.substr(4);  // "kytos.topology:<hash>"
  std::string forged = lookalike;
  forged[5] = '/';  // "kytos/topology:<hash>" maps to "kytos.topology:<hash>"
  EXPECT_NE(QueueNameFor("app.", forged), dot);
  EXPECT_NE(QueueNameFor("app.", "y/../.."), QueueNameFor("app.", "y/./..."));
}

TEST(QueueNameTest, EveryNameIsValidAndDistinct) {
  const std::vector<std::string> texts = {
      "a", "a/b", "a.b", "a b", "a\nb", std::string("a\0b", 3), "a//b",
      "a:b", "A:B", std::string(150, 'x'), std::string(150, 'x') + "y",
      std::string(300, '/'), std::string(300, '.'), "\xff\xfe", "y/../..",
      "region:0123456789abcdef", "region/0123456789abcdef"};
  absl::flat_hash_map<std::string, std::string> seen;
  for (const std::string& text : texts) {
    const std::string name = QueueNameFor("app.", text);
    EXPECT_TRUE(ValidateQueueName(name).ok()) << name;
    EXPECT_EQ(name, QueueNameFor("app.", text)) << "stable";
    auto [it, inserted] = seen.emplace(name, text);
    EXPECT_TRUE(inserted) << "'" << text << "' and '" << it->second
                          << "' share " << name;
  }
}

}  // namespace
}  // namespace switchboard
