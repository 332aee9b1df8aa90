// Package mdcode reads the fenced code blocks of markdown files, so that
// tests can check or run every example the docs show.
package mdcode

import (
	"bufio"
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
