package config

import "github.com/incidentd/incidentd/strictyaml"

// Duration is a time.Duration written like Prometheus durations: 30s, 15m,
// 2h, 1d, 1w.
type Duration = strictyaml.Duration

// ByteSize is a size in bytes, written as an integer or with a unit.
type ByteSize = strictyaml.ByteSize

// ParseByteSize reads "10MiB", "1MB", "4096".
func ParseByteSize(s string) (ByteSize, error) { return strictyaml.ParseByteSize(s) }
