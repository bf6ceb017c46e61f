#ifndef SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_SEQUENCER_H_
#define SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_SEQUENCER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace switchboard::bridge::zeromq {

// Follows, for each peer (one subscriber socket, reading one publisher
// endpoint), the sequence numbers of the publisher it reaches (see
// zeromq_wire.h): counts gaps, notices a publisher that restarted (a new
// id), and picks out peers that reach a publisher another peer already
// reads (the own endpoint listed in `connect` too), whose messages are
// then ignored so that every publisher is read once.
//
// Pure logic; not thread-safe (the I/O thread owns it).
class PeerSequencer {
 public:
  // What a message's header means for its peer.
  struct Verdict {
    // False: the message comes through a duplicate peer; ignore it.
    bool accept = false;
    // Messages [lost_from, lost_to) of the peer's publisher never arrived:
    // within one connection ZeroMQ keeps order, so a gap is loss. Empty
    // (equal) when nothing was lost.
    uint64_t lost_from = 0;
    uint64_t lost_to = 0;
    // The peer's first message from this publisher: the first message on
    // the peer, or its publisher restarted (a new id). What the publisher
    // sent before is not loss: we were not there.
    bool new_publisher = false;
    // With new_publisher: the id the peer read until now (0: none).
    uint64_t previous_publisher_id = 0;
    // With new_publisher: the peer that already reads this publisher
    // (this peer is then a duplicate and accept false).
    std::optional<size_t> duplicate_of;

    uint64_t lost() const { return lost_to - lost_from; }
  };

  explicit PeerSequencer(size_t peers) : peers_(peers) {}

  // Accounts for a message with this header arriving through `peer`
  // (< the number of peers).
  Verdict Observe(size_t peer, uint64_t publisher_id, uint64_t seq);

  // Distinct publishers heard through all peers.
  size_t DistinctPublishers() const;
  // The publisher `peer` reaches; 0 until a message arrived.
  uint64_t publisher_id(size_t peer) const { return peers_[peer].publisher_id; }
  bool duplicate(size_t peer) const { return peers_[peer].duplicate; }

 private:
  struct Peer {
    // 0 until a message arrived.
    uint64_t publisher_id = 0;
    uint64_t next_seq = 0;
    // Reaches a publisher another peer already reads: ignored.
    bool duplicate = false;
  };
  std::vector<Peer> peers_;
};

}  // namespace switchboard::bridge::zeromq

#endif  // SWITCHBOARD_SERVICES_MQ_BRIDGE_TRANSPORT_ZEROMQ_ZEROMQ_SEQUENCER_H_
