// core/fifo.h — a first-in first-out queue kept in one vector, for the many small queues of a
// connection (bytes in flight, parsed requests and replies waiting to be taken).
//
// std::deque allocates a 512-byte block and its map as soon as it is constructed and walks on to a
// fresh block every few elements, so a cluster's thousands of mostly idle queues each held cold
// blocks that every message touched anew. A Fifo allocates nothing until its first push, and a queue
// that empties starts again at the front of the same storage. Taking from the front never moves the
// other elements; a push compacts (moves the remaining elements to the front) only when the storage
// is full, so a reference to an element stays valid until the next push.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace replsim::core {

template <typename T>
class Fifo {
 public:
  Fifo() = default;
  Fifo(Fifo&& other) noexcept : items_(std::move(other.items_)), head_(other.head_) { other.clear(); }
  Fifo& operator=(Fifo&& other) noexcept {
    items_ = std::move(other.items_);
    head_ = other.head_;
    other.clear();
    return *this;
  }
  Fifo(const Fifo&) = default;
  Fifo& operator=(const Fifo&) = default;
  ~Fifo() = default;

  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }

  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  const T& back() const { return items_.back(); }

  void push_back(T value) { emplace_back(std::move(value)); }

  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (head_ > 0 && items_.size() == items_.capacity()) compact();
    return items_.emplace_back(std::forward<Args>(args)...);
  }

  // Removes the front element. Its slot is destroyed when the queue empties or the next compaction
  // reuses it, so a caller moves the element out first (as every caller does) to free what it owns.
  void pop_front() {
    ++head_;
    if (head_ == items_.size()) clear();
  }

  // Keeps the storage for the next elements.
  void clear() {
    items_.clear();
    head_ = 0;
  }

  auto begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() { return items_.end(); }
  auto begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() const { return items_.end(); }

 private:
  void compact() {
    std::size_t to = 0;
    for (std::size_t from = head_; from < items_.size(); ++from) items_[to++] = std::move(items_[from]);
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(to), items_.end());
    head_ = 0;
  }

  std::vector<T> items_;
  std::size_t head_ = 0;  // items_[0, head_) were taken
};

}  // namespace replsim::core
