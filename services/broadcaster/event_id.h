#ifndef SWITCHBOARD_SERVICES_BROADCASTER_EVENT_ID_H_
#define SWITCHBOARD_SERVICES_BROADCASTER_EVENT_ID_H_

#include <string>

namespace switchboard::broadcaster {

// A random UUID v4 in its 36-character text form: the id the broadcaster
// gives an event its producer sent without one. Thread-safe.
std::string NewEventId();

}  // namespace switchboard::broadcaster

#endif  // SWITCHBOARD_SERVICES_BROADCASTER_EVENT_ID_H_
