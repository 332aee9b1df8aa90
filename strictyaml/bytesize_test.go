package strictyaml

import "testing"

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"10MiB", 10 << 20, true},
		{" 512 ", 512, true},
		{"1KB", 1000, true},
		{"-1", 0, false},
		{"1.5MiB", 0, false},
		{"8589934592GiB", 0, false}, // 2^33 GiB wraps int64
		{"9223372036854775807B", 1<<63 - 1, true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
