#include "services/mq-bridge/transport/zeromq/zeromq_sequencer.h"

#include "absl/container/flat_hash_set.h"

namespace switchboard::bridge::zeromq {

PeerSequencer::Verdict PeerSequencer::Observe(size_t peer_index,
                                              uint64_t publisher_id,
                                              uint64_t seq) {
  Verdict verdict;
  Peer& peer = peers_[peer_index];
  if (publisher_id == peer.publisher_id) {
    if (peer.duplicate) return verdict;
    // Within one connection ZeroMQ keeps order: a gap is loss.
    if (seq > peer.next_seq) {
      verdict.lost_from = peer.next_seq;
      verdict.lost_to = seq;
    }
    if (seq >= peer.next_seq) peer.next_seq = seq + 1;
    verdict.accept = true;
    return verdict;
  }
  // The first message from this peer, or its publisher restarted (new id).
  // What it published before we connected is not loss: we were not there.
  verdict.new_publisher = true;
  verdict.previous_publisher_id = peer.publisher_id;
  peer.publisher_id = publisher_id;
  peer.next_seq = seq + 1;
  peer.duplicate = false;
  // A peer is marked a duplicate only when no other peer reads its
  // publisher, so at most one other peer matches.
  for (size_t j = 0; j < peers_.size(); ++j) {
    if (j != peer_index && !peers_[j].duplicate &&
        peers_[j].publisher_id == publisher_id) {
      peer.duplicate = true;
      verdict.duplicate_of = j;
    }
  }
  verdict.accept = !peer.duplicate;
  return verdict;
}

size_t PeerSequencer::DistinctPublishers() const {
  absl::flat_hash_set<uint64_t> ids;
  for (const Peer& peer : peers_) {
    if (peer.publisher_id != 0) ids.insert(peer.publisher_id);
  }
  return ids.size();
}

}  // namespace switchboard::bridge::zeromq
