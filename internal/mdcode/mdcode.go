// Package mdcode reads the fenced code blocks of markdown files, so that
// tests can check or run every example the docs show.
package mdcode

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Block is one fenced code block.
type Block struct {
	File string
	// Info is the text after the opening fence: "yaml cmdb", "sh api".
	Info string
	Text string
	// Line is the line of the opening fence.
	Line int
}

// Blocks returns the fenced code blocks of a markdown file, in order.
func Blocks(file string) ([]Block, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Block
	var cur *Block
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &Block{File: file, Info: strings.TrimSpace(strings.TrimPrefix(line, "```")), Line: n}
		case cur != nil && strings.HasPrefix(line, "```"):
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.Text += line + "\n"
		}
	}
	return out, sc.Err()
}

// SectionBlocks returns the fenced code blocks under the heading line
// (e.g. "## SLA") up to the next heading of the same or a higher level, so
// that each package can test the part of a shared document it owns. It is
// an error if the heading is missing.
func SectionBlocks(file, heading string) ([]Block, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	level := len(heading) - len(strings.TrimLeft(heading, "#"))
	start, end := 0, 1<<30
	for n, line := range strings.Split(string(data), "\n") {
		switch {
		case line == heading:
			start = n + 1
		case start > 0 && end == 1<<30 && isHeadingUpTo(line, level):
			end = n + 1
		}
	}
	if start == 0 {
		return nil, fmt.Errorf("%s has no %q section", file, heading)
	}
	blocks, err := Blocks(file)
	if err != nil {
		return nil, err
	}
	var out []Block
	for _, b := range blocks {
		if b.Line > start && b.Line < end {
			out = append(out, b)
		}
	}
	return out, nil
}

// isHeadingUpTo reports whether line is a markdown heading of level at
// most level (## is 2).
func isHeadingUpTo(line string, level int) bool {
	hashes := len(line) - len(strings.TrimLeft(line, "#"))
	return hashes > 0 && hashes <= level && strings.HasPrefix(line[hashes:], " ")
}
