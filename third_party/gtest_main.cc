// gtest main for lra tests. Kept here rather than linking -lgtest_main so every test binary has
// the same entry point.
#include "gtest/gtest.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
