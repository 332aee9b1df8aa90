package strictyaml

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// maxAliasGrowth bounds how many nodes aliases may add to a document once
// expanded. yaml.v3 limits alias expansion only when it decodes into Go
// values itself; walking the node tree (as Decode and the runbook parser
// do) follows every alias, so a document of a few hundred bytes could
// otherwise expand to billions of nodes, or to a cycle (a: &a [*a]).
const maxAliasGrowth = 100_000

// CheckAliases rejects a node tree whose aliases form a cycle or expand to
// more than maxAliasGrowth nodes beyond the tree itself. It costs one pass
// over the tree.
func CheckAliases(root *yaml.Node) *Error {
	c := aliasCheck{size: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}}
	expanded := c.expand(root)
	if c.err != nil {
		return c.err
	}
	if expanded-written(root) > maxAliasGrowth {
		return &Error{Line: c.firstAlias, Msg: fmt.Sprintf("aliases expand the document by more than %d nodes", maxAliasGrowth)}
	}
	return nil
}

// written counts the nodes as written, an alias as one.
func written(n *yaml.Node) int {
	total := 1
	for _, child := range n.Content {
		total += written(child)
	}
	return total
}

type aliasCheck struct {
	size       map[*yaml.Node]int // expanded size of the nodes measured
	open       map[*yaml.Node]bool
	firstAlias int
	err        *Error
}

// expand returns the number of nodes n stands for with its aliases
// expanded, saturating so that the sum cannot overflow. Each node is
// measured once.
func (c *aliasCheck) expand(n *yaml.Node) int {
	if c.err != nil || n == nil {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		if c.firstAlias == 0 {
			c.firstAlias = n.Line
		}
		if c.open[n.Alias] {
			c.err = &Error{Line: n.Line, Msg: fmt.Sprintf("alias *%s refers to a node that contains it", n.Value)}
			return 0
		}
		return c.expand(n.Alias)
	}
	if s, ok := c.size[n]; ok {
		return s
	}
	c.open[n] = true
	total := 1
	for _, child := range n.Content {
		total = min(total+c.expand(child), 1<<40)
	}
	delete(c.open, n)
	c.size[n] = total
	return total
}
