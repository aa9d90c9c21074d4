// How much of the stream one poll step of Subscriber/SetSubscriber reads
// (docs/design.md, "A step reads at most so many stream messages").
#pragma once

#include <cstddef>

namespace tablepub {

// Stream messages read per step, before the step turns to the snapshot
// endpoint's replies and the requests. Reading until the SUB queue is
// empty let a publisher that outpaces the subscriber (a burst, a backlog
// after a relay restart) hold replies and requests back for as long as it
// kept up, under the subscriber's lock: the snapshot or replay the stream
// waits for timed out. Large enough that the poll per step costs nothing
// measurable (one zmq_poll per thousand messages).
inline constexpr std::size_t max_stream_messages_per_step = 1000;

}  // namespace tablepub
