package strictyaml

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Duration is a time.Duration written like Prometheus durations: 30s, 15m,
// 2h, 1d, 1w. It lives here, not in config, so that every package with a
// config section (runbooks, escalation, notifiers) can use it without
// importing config, which imports them.
type Duration time.Duration

func (d Duration) String() string { return model.Duration(d).String() }

// MarshalYAML renders the duration as text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalScalar parses a duration.
func (d *Duration) UnmarshalScalar(s string) error {
	dur, err := model.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want e.g. 30s, 15m, 2h, 1d", s)
	}
	*d = Duration(dur)
	return nil
}

// ByteSize is a size in bytes, written as an integer or with a unit: 512KiB,
// 10MiB, 1GiB, 10MB.
type ByteSize int64

// UnmarshalScalar parses a size.
func (b *ByteSize) UnmarshalScalar(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// ParseByteSize reads "10MiB", "1MB", "4096".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult { // the product would wrap around
		return 0, fmt.Errorf("invalid size %q: want a number of bytes, optionally with KiB, MiB, GiB, KB, MB or GB", s)
	}
	return ByteSize(n * mult), nil
}
