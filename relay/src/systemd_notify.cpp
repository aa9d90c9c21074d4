#include "relay/systemd_notify.hpp"

#include <systemd/sd-daemon.h>

namespace tablepub {

void SystemdNotifier::set_role(RelayRole role) {
    next_.set_role(role);
    switch (role) {
        case RelayRole::connecting: (void)sd_notify(0, "STATUS=connecting to the database"); break;
        case RelayRole::standby:
        case RelayRole::active: {
            // Ready once connected, whether active or standing by: a standby is
            // doing its job, and systemctl start must not wait for a takeover.
            const char* status =
                role == RelayRole::active ? "STATUS=active: publishing" : "STATUS=standby: another relay is active";
            if (!ready_sent_) {
                (void)sd_notifyf(0, "READY=1\n%s", status);
                ready_sent_ = true;
            } else {
                (void)sd_notify(0, status);
            }
            break;
        }
    }
}

void SystemdNotifier::stopping() noexcept { (void)sd_notify(0, "STOPPING=1\nSTATUS=stopping"); }

}  // namespace tablepub
