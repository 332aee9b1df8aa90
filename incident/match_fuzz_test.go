package incident

import "testing"

func FuzzParseMatchers(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{team="shop"}`, `{team="shop", priority=~"P1|P2"}`, `team!="a",env!~"dev|test"`,
		`{a="b"`, `{"quoted name"="x"}`, `{a="\"escaped\" \\ \n"}`, `{a=~"("}`, `{a=~".*", b="", c!=""}`,
		`{🙂="x"}`, `{a="b",}`, `{,}`, `{a==b}`, "{a=\"\x00\"}", `{a="\xff"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMatchers(s)
		if err != nil {
			return
		}
		// What a config or a silence stores is String(): it must parse
		// back to the same matchers.
		again, err := ParseMatchers(ms.String())
		if err != nil {
			t.Fatalf("%q parsed, but its String() %q does not: %v", s, ms.String(), err)
		}
		if len(again) != len(ms) {
			t.Fatalf("%q: %d matchers, String() %q gives %d", s, len(ms), ms.String(), len(again))
		}
		for i := range ms {
			a, b := ms[i], again[i]
			if a.Name != b.Name || a.Type != b.Type || a.Value != b.Value {
				t.Fatalf("%q: matcher %d is %v, after String() %q it is %v", s, i, a, ms.String(), b)
			}
		}
		// Matching never panics, on the empty set and on the values named.
		set := map[string]string{}
		for _, m := range ms {
			set[m.Name] = m.Value
		}
		ms.Matches(set)
		ms.Matches(nil)
	})
}
