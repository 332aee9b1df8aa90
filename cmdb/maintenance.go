package cmdb

import (
	"fmt"
	"time"
)

// Window is a maintenance window on a CI: alerts on it, and on what needs
// it, are recorded but open no incident while it lasts.
type Window struct {
	ID        int64     `json:"id" yaml:"-"`
	CI        string    `json:"ci" yaml:"ci"`
	Start     time.Time `json:"start" yaml:"start"`
	End       time.Time `json:"end" yaml:"end"`
	Reason    string    `json:"reason" yaml:"reason"`
	CreatedBy string    `json:"created_by,omitempty" yaml:"-"`
	// Source is config (from the config file) or api.
	Source string `json:"source" yaml:"-"`
}

// Check validates a window.
func (w *Window) Check() error {
	switch {
	case w.CI == "":
		return fmt.Errorf("ci is required")
	case w.Start.IsZero() || w.End.IsZero():
		return fmt.Errorf("start and end are required (RFC 3339)")
	case !w.End.After(w.Start):
		return fmt.Errorf("end %s is not after start %s", w.End.Format(time.RFC3339), w.Start.Format(time.RFC3339))
	}
	return nil
}

// Active reports whether the window covers t.
func (w *Window) Active(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }
