package runbooks

import "text/template"

// TemplateFuncs returns the functions runbook templates may call, so that
// other templated config (ingest's JSON mappings) offers the same ones.
func TemplateFuncs() template.FuncMap {
	out := make(template.FuncMap, len(funcs))
	for k, v := range funcs {
		out[k] = v
	}
	return out
}
