package timers

import "time"

// SetRenewTicks makes s renew leases when c ticks instead of every Lease/3.
func SetRenewTicks(s *Scheduler, c <-chan time.Time) { s.hooks.renewTicks = c }

// SetIdle makes Run call f each time it goes to wait, telling whether the
// pass it just made started after LISTEN was in place.
func SetIdle(s *Scheduler, f func(listening bool)) { s.hooks.idle = f }
