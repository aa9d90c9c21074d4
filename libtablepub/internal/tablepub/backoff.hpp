// The cap of the subscriber's backoff after transient answers, shared by
// the per-table engine (TableSync) and the set engine (TableSetSync), so
// that both wait alike (docs/protocol.md section 9).
#pragma once

namespace tablepub {

// Requests in a row answered "not now" (no reply, UNAVAILABLE, BUSY,
// TIMEOUT, INTERNAL) make the next retry wait retry_delay times their
// number, at most this many retry delays (5 s with the default 500 ms;
// the Python client's MAX_BACKOFF_STEPS is the same; tablepub-tail's
// replays use it too).
inline constexpr unsigned kMaxBackoffSteps = 10;

}  // namespace tablepub
