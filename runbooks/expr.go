package runbooks

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Condition is a compiled boolean expression (`when`, `wait.until`) in the
// expr language (github.com/expr-lang/expr). It is type-checked at load
// against the environment below, so a misspelt field is a load error.
//
// Environment (snake_case, the API's JSON names):
//
//	steps.NAME.{outcome,ok,error,attempts,status,headers,body,json,exit_code,stdout,stderr,actor}
//	incident.{id,key,title,status,priority,urgency,impact,major,labels,alert_count,
//	          firing_count,root_cause.{ci,reason},impacted,created_at,...}
//	labels, ci.{id,name,class,criticality,owner,environment,attributes},
//	inputs.NAME, alerts[i].{id,status,labels,annotations,ci,starts_at,...},
//	runbook.{name,trigger,run_id,dry_run}, error, now,
//	alerts_resolved, incident_resolved   (named conditions)
type Condition struct {
	// Source is the expression as written.
	Source string
	prog   *vm.Program
}

// env is the expression environment. It has no methods, so expressions
// cannot call into incidentd.
type env struct {
	Steps    map[string]StepResult `expr:"steps"`
	Incident Incident              `expr:"incident"`
	Labels   map[string]string     `expr:"labels"`
	CI       CI                    `expr:"ci"`
	Inputs   map[string]any        `expr:"inputs"`
	Alerts   []Alert               `expr:"alerts"`
	Runbook  RunInfo               `expr:"runbook"`
	Error    string                `expr:"error"`
	Now      time.Time             `expr:"now"`
	// AlertsResolved: the run has an incident and none of its alerts fires.
	AlertsResolved bool `expr:"alerts_resolved"`
	// IncidentResolved: the run has an incident and it is resolved or
	// closed.
	IncidentResolved bool `expr:"incident_resolved"`
}

// maxExprNodes bounds an expression's size; evaluation is bounded by it and
// by the data (expr has no loops or recursion of its own).
const maxExprNodes = 1000

func newEnv(d *Data) env {
	d = d.withDefaults()
	inc := d.Incident
	return env{
		Steps: d.Steps, Incident: inc, Labels: d.Labels, CI: d.CI, Inputs: d.Inputs,
		Alerts: d.Alerts, Runbook: d.Runbook, Error: d.Error, Now: d.Now,
		AlertsResolved:   inc.ID != 0 && inc.FiringCount == 0,
		IncidentResolved: inc.ID != 0 && (inc.Status == "resolved" || inc.Status == "closed"),
	}
}

// compileCondition compiles src; references to steps and inputs must be
// literal names that sc allows.
func compileCondition(src string, sc *scope) (*Condition, error) {
	prog, err := expr.Compile(src,
		expr.Env(env{}),
		// now() would read the wall clock; `now` is the engine's clock.
		expr.DisableBuiltin("now"),
		expr.MaxNodes(maxExprNodes),
	)
	if err != nil {
		return nil, exprError(err)
	}
	node := prog.Node()
	// A result of unknown type (a JSON field) is checked when evaluated.
	if t := node.Type(); t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
		return nil, fmt.Errorf("invalid expression: want a boolean, got %s", t)
	}
	v := &refVisitor{sc: sc}
	ast.Walk(&node, v)
	if v.err != nil {
		return nil, v.err
	}
	return &Condition{Source: src, prog: prog}, nil
}

// exprError makes expr's multi-line error one line.
func exprError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fmt.Errorf("invalid expression: %s (column %d)", fe.Message, fe.Column+1)
	}
	return fmt.Errorf("invalid expression: %v", err)
}

// refVisitor checks steps.NAME and inputs.NAME.
type refVisitor struct {
	sc  *scope
	err error
}

func (v *refVisitor) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok || v.err != nil {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || (id.Value != "steps" && id.Value != "inputs") {
		return
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		v.err = fmt.Errorf("%s must be indexed by a literal name (%s.NAME or %s[\"NAME\"])", id.Value, id.Value, id.Value)
		return
	}
	if id.Value == "steps" {
		if err := v.sc.checkStep(prop.Value); err != nil {
			v.err = fmt.Errorf("steps.%s: %w", prop.Value, err)
		}
		return
	}
	if err := v.sc.checkInput(prop.Value); err != nil {
		v.err = fmt.Errorf("inputs.%s: %w", prop.Value, err)
	}
}

// Eval evaluates the condition over d.
func (c *Condition) Eval(d *Data) (bool, error) {
	out, err := vm.Run(c.prog, newEnv(d))
	if err != nil {
		msg := err.Error()
		var fe *file.Error
		if errors.As(err, &fe) {
			msg = fe.Message
		}
		return false, fmt.Errorf("evaluating %q: %s", c.Source, msg)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("evaluating %q: got %T, want a boolean", c.Source, out)
	}
	return b, nil
}

// String returns the source.
func (c *Condition) String() string { return c.Source }
