package runbooks

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// InputType is the type of a runbook input.
type InputType string

// Input types, and the Go type of their values in Data.Inputs.
const (
	InputString   InputType = "string"   // string
	InputInt      InputType = "int"      // int
	InputBool     InputType = "bool"     // bool
	InputDuration InputType = "duration" // time.Duration
)

// InputTypes lists the valid types.
var InputTypes = []InputType{InputString, InputInt, InputBool, InputDuration}

// Input is a typed parameter of manual runs and runbook calls.
type Input struct {
	Name        string
	Description string
	Type        InputType
	Required    bool
	// Default is the typed default, nil if none.
	Default any
}

// Parse converts text (a CLI flag, a rendered runbook-call input) to the
// input's type.
func (in *Input) Parse(s string) (any, error) {
	switch in.Type {
	case InputInt:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("input %s: %q is not an integer", in.Name, s)
		}
		return n, nil
	case InputBool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("input %s: %q is not true or false", in.Name, s)
		}
		return b, nil
	case InputDuration:
		d, err := model.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("input %s: %q is not a positive duration (e.g. 30s, 15m, 2h, 1d)", in.Name, s)
		}
		return time.Duration(d), nil
	default:
		return s, nil
	}
}

// convert accepts a value decoded from JSON (string, float64, bool) or a Go
// value of the right type.
func (in *Input) convert(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return in.Parse(x)
	case bool:
		if in.Type == InputBool {
			return x, nil
		}
	case float64:
		if in.Type == InputInt && x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x), nil
		}
	case int:
		if in.Type == InputInt {
			return x, nil
		}
	case int64:
		if in.Type == InputInt {
			return int(x), nil
		}
	case time.Duration:
		if in.Type == InputDuration && x > 0 {
			return x, nil
		}
	}
	return nil, fmt.Errorf("input %s: %v (%T) is not a %s", in.Name, v, v, in.Type)
}

// ResolveInputs checks the inputs given to a run against the runbook's
// declarations: unknown names are errors, required inputs must be given,
// defaults fill the rest, and every value is converted to its type (text
// is parsed). It returns the map for Data.Inputs.
func (rb *Runbook) ResolveInputs(given map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(rb.Inputs))
	var errs []string
	for name := range given {
		if !slices.ContainsFunc(rb.Inputs, func(in *Input) bool { return in.Name == name }) {
			errs = append(errs, fmt.Sprintf("unknown input %q", name))
		}
	}
	slices.Sort(errs)
	for _, in := range rb.Inputs {
		v, ok := given[in.Name]
		switch {
		case ok:
			c, err := in.convert(v)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			out[in.Name] = c
		case in.Required:
			errs = append(errs, fmt.Sprintf("input %s is required", in.Name))
		case in.Default != nil:
			out[in.Name] = in.Default
		default:
			out[in.Name] = zeroInput(in.Type)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("runbook %s: %s", rb.Name, strings.Join(errs, "; "))
	}
	return out, nil
}

func zeroInput(t InputType) any {
	switch t {
	case InputInt:
		return 0
	case InputBool:
		return false
	case InputDuration:
		return time.Duration(0)
	}
	return ""
}
