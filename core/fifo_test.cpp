// core/fifo_test.cpp — tests of Fifo against std::deque as the reference: the same elements come out
// in the same order under any mix of pushes and pops, storage is reused once the queue empties, and a
// reference to an element stays valid while only pops happen.
#include "core/fifo.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

using replsim::core::Fifo;

TEST_CASE("a Fifo gives back what went in, in order, like std::deque") {
  Fifo<std::string> fifo;
  std::deque<std::string> reference;
  std::uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33U;
  };
  for (int step = 0; step < 20000; ++step) {
    const bool push = reference.empty() || next() % 3 != 0;
    if (push) {
      // Long strings too, so a compaction that copied instead of moving would still compare equal
      // but one that lost an element would not.
      std::string value = std::to_string(step) + std::string(next() % 40, 'x');
      fifo.push_back(value);
      reference.push_back(value);
    } else {
      REQUIRE(fifo.front() == reference.front());
      fifo.pop_front();
      reference.pop_front();
    }
    REQUIRE(fifo.size() == reference.size());
    REQUIRE(fifo.empty() == reference.empty());
    if (!reference.empty()) REQUIRE(fifo.back() == reference.back());
  }
  std::vector<std::string> rest(fifo.begin(), fifo.end());
  CHECK(rest == std::vector<std::string>(reference.begin(), reference.end()));
}

TEST_CASE("a Fifo that empties starts again at the front of its storage") {
  Fifo<int> fifo;
  fifo.push_back(1);
  fifo.push_back(2);
  const int* first = &fifo.front();
  fifo.pop_front();
  fifo.pop_front();
  CHECK(fifo.empty());
  fifo.push_back(3);
  CHECK(&fifo.front() == first);  // the same storage, not a walk onward
  CHECK(fifo.front() == 3);
}

TEST_CASE("popping leaves the other elements where they are") {
  Fifo<std::unique_ptr<int>> fifo;
  for (int k = 0; k < 5; ++k) fifo.push_back(std::make_unique<int>(k));
  const std::unique_ptr<int>* last = &fifo.back();
  fifo.pop_front();
  fifo.pop_front();
  CHECK(&fifo.back() == last);
  CHECK(*fifo.front() == 2);
  CHECK(fifo.size() == 3);
}

TEST_CASE("a moved-from Fifo is empty and usable") {
  Fifo<int> a;
  a.push_back(7);
  a.push_back(8);
  a.pop_front();
  Fifo<int> b = std::move(a);
  CHECK(b.size() == 1);
  CHECK(b.front() == 8);
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  a.push_back(9);
  CHECK(a.front() == 9);
  Fifo<int> c;
  c = std::move(b);
  CHECK(c.front() == 8);
  CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
}
