// sim/client.h — a RESP client that runs as a harness task on a simulated client host.
//
// It keeps one connection per node, sends one command at a time, follows -MOVED redirections (a
// bounded number of hops), and tells a definite answer from a lost one: a reply received is a
// Reply with `answered` true; a timeout, reset or refused connect is `answered` false with the error,
// and the connection is dropped (the command may or may not have run). It never retries a command by
// itself — whether a retry is safe is the caller's decision.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/resp.h"
#include "sim/kernel/network.h"
#include "sim/kernel/scheduler.h"

namespace replsim::sim {

struct ClientReply {
  bool answered = false;       // a complete reply arrived
  core::RespValue value;       // the reply, when answered
  std::string node;            // the node that answered (or was last tried)
  core::Err error = core::Err::none;  // why there is no reply
  std::string error_text;
  int redirects = 0;

  bool is_error_reply() const { return answered && value.type == core::RespValue::Type::error; }
  // "OK", "(error) ERR ...", "(nil)", "3" ... for logs and reports.
  std::string display() const;
  // The reply as scenario `expect` patterns see it (see reply_matches in sim/scenario.h): its RESP
  // type byte and its text. Only meaningful when answered.
  char type_byte() const;
  std::string text() const;
};

// Where a node listens: host and port, by node name. Returns nullopt for unknown names.
struct NodeAddress {
  kernel::Host host = 0;
  std::uint16_t port = 0;
};
using AddressBook = std::function<std::optional<NodeAddress>(const std::string& node_name)>;

class SimClient {
 public:
  SimClient(kernel::Scheduler& sched, kernel::Network& net, kernel::Host self, AddressBook book,
            std::string name);

  // Sends argv to `node` and waits for one reply, following up to max_redirects MOVED replies.
  // REQUIRES: called from a harness task.
  ClientReply call(const std::string& node, const std::vector<std::string>& argv,
                   kernel::Nanos timeout, int max_redirects = 3);

  // Drops every connection (e.g. after the node it talks to was replaced).
  void disconnect_all() { conns_.clear(); }
  // Gives back a reply value the caller is done with: later replies are parsed into its storage
  // (see core::RespStringPool). Only arrays are worth it.
  void recycle(core::RespValue&& spent) { pool_.recycle(std::move(spent)); }
  const std::string& name() const { return name_; }

 private:
  struct Conn {
    std::unique_ptr<kernel::NetConnection> conn;
    core::RespReplyParser parser;
  };
  ClientReply call_once(const std::string& node, const std::vector<std::string>& argv,
                        kernel::Nanos timeout);

  kernel::Scheduler& sched_;
  kernel::Network& net_;
  kernel::Host self_;
  AddressBook book_;
  std::string name_;
  core::RespStringPool pool_;  // shared by the parsers of conns_ (declared first: outlives them)
  std::map<std::string, Conn> conns_;
  std::string request_;  // the command being sent, as RESP (reused)
};

// Parses "-MOVED 3999 c0n1:6379" into the target node's host name ("c0n1"); nullopt otherwise.
std::optional<std::string> moved_target(const core::RespValue& reply);

}  // namespace replsim::sim
